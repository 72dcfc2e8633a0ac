#pragma once

// Type-safe formatting: the C++ answer to printf, without its varargs.
//
//     format_to(sink, "rip={:016x} count={} ok={}", rip, count, true);
//
// Each {} in the format string takes the next argument. The argument's own
// type decides how it is shown, so there is no %d or %s to get wrong:
//
//   integers of every width  decimal; int8_t and uint8_t are numbers too
//   char                     the character
//   bool                     true or false
//   const char*              the string; a null pointer shows as (null)
//   any other pointer        0x and 16 hex digits, e.g. 0x00000000000b8000
//                            (a function pointer: pass it as uintptr_t)
//
// An unscoped enum converts to an integer by itself, so it shows as its
// number (a member of `enum Kind { a, b }` as 0 or 1). Any other type (an
// enum class, a struct) does not compile: give it a name to print instead.
//
// Nor do the characters of other encodings, char8_t, char16_t, char32_t and
// wchar_t, or strings of them (u8"..." is a char8_t string in C++20), as in
// std::format with a char format string. They would convert to an integer
// or to an address and print as one; and a screen cell holds one byte, so
// there is no character to show. Pass the code point as an integer if that
// is what you mean.
//
// Between the braces, after a colon, an optional spec: {:[0][width][x]}
//
//   x      an integer in hexadecimal, lowercase, with a 0x prefix
//   width  the least number of characters; shorter values are padded with
//          spaces, numbers on the left and text on the right (as in
//          std::format). Up to 99.
//   0      pad a number with zeros after its sign or 0x prefix instead
//
// Unlike std::format, the 0x prefix does not count towards the width: it
// is the number of digits a register has, so {:016x} shows a 64-bit value
// as 0x and 16 digits. A negative number in hexadecimal keeps its sign
// (-1 is -0x1, as in std::format); to see a value's bits, pass it as the
// unsigned type. {{ and }} stand for literal braces.
//
// The format string is checked while compiling: a placeholder without an
// argument, an argument without a placeholder, a malformed spec, or x on a
// string is a compile error, not wrong output at run time.

#include <stddef.h>
#include <stdint.h>

#include "output_sink.h"

enum class ArgumentKind : uint8_t { Signed, Unsigned, Character, Boolean, String, Pointer };

// One argument of a format call, with its type turned into a tag: the
// templates below only pack the arguments, and the one non-template
// formatting function does the work, so it is compiled once and not once
// per combination of argument types.
class FormatArgument {
  public:
    constexpr explicit FormatArgument(bool value) : kind_(ArgumentKind::Boolean), boolean_(value) {}
    constexpr explicit FormatArgument(char value)
        : kind_(ArgumentKind::Character), character_(value) {}

    constexpr explicit FormatArgument(signed char value) : FormatArgument(int64_t{value}) {}
    constexpr explicit FormatArgument(short value) : FormatArgument(int64_t{value}) {}
    constexpr explicit FormatArgument(int value) : FormatArgument(int64_t{value}) {}
    constexpr explicit FormatArgument(long value) : kind_(ArgumentKind::Signed), signed_(value) {}
    constexpr explicit FormatArgument(long long value)
        : kind_(ArgumentKind::Signed), signed_(value) {}

    constexpr explicit FormatArgument(unsigned char value) : FormatArgument(uint64_t{value}) {}
    constexpr explicit FormatArgument(unsigned short value) : FormatArgument(uint64_t{value}) {}
    constexpr explicit FormatArgument(unsigned int value) : FormatArgument(uint64_t{value}) {}
    constexpr explicit FormatArgument(unsigned long value)
        : kind_(ArgumentKind::Unsigned), unsigned_(value) {}
    constexpr explicit FormatArgument(unsigned long long value)
        : kind_(ArgumentKind::Unsigned), unsigned_(value) {}

    constexpr explicit FormatArgument(const char* value)
        : kind_(ArgumentKind::String), string_(value) {}
    // Without this, a char* would match the pointer template below better
    // than const char* and print as an address.
    constexpr explicit FormatArgument(char* value)
        : FormatArgument(static_cast<const char*>(value)) {}

    template <typename T>
    constexpr explicit FormatArgument(T* value)
        : kind_(ArgumentKind::Pointer), pointer_(static_cast<const volatile void*>(value)) {}
    constexpr explicit FormatArgument(decltype(nullptr))
        : kind_(ArgumentKind::Pointer), pointer_(nullptr) {}

    [[nodiscard]] constexpr ArgumentKind kind() const { return kind_; }
    [[nodiscard]] bool as_boolean() const { return boolean_; }
    [[nodiscard]] char as_character() const { return character_; }
    [[nodiscard]] int64_t as_signed() const { return signed_; }
    [[nodiscard]] uint64_t as_unsigned() const { return unsigned_; }
    [[nodiscard]] const char* as_string() const { return string_; }
    [[nodiscard]] uintptr_t as_address() const { return reinterpret_cast<uintptr_t>(pointer_); }

  private:
    ArgumentKind kind_;
    union {
        bool boolean_;
        char character_;
        int64_t signed_;
        uint64_t unsigned_;
        const char* string_;
        const volatile void* pointer_;
    };
};

// What the spec between the braces of one placeholder asks for.
struct FormatSpec {
    bool zero_padded = false;
    uint8_t width = 0;
    bool hexadecimal = false;
};

// One placeholder, parsed. `end` is the index just past its closing brace.
struct Placeholder {
    bool valid = false;
    FormatSpec spec;
    size_t end = 0;
};

// Parses the placeholder whose opening brace is at format[start]. Used both
// by the compile-time check and by the formatting at run time, so the two
// cannot disagree about what a placeholder means.
constexpr Placeholder parse_placeholder(const char* format, size_t start) {
    Placeholder placeholder;
    size_t i = start + 1;
    if (format[i] == ':') {
        ++i;
        if (format[i] == '0') {
            placeholder.spec.zero_padded = true;
            ++i;
        }
        for (int digits = 0; format[i] >= '0' && format[i] <= '9'; ++digits, ++i) {
            if (digits == 2) {
                return placeholder;
            }
            placeholder.spec.width =
                static_cast<uint8_t>(placeholder.spec.width * 10 + (format[i] - '0'));
        }
        if (format[i] == 'x') {
            placeholder.spec.hexadecimal = true;
            ++i;
        }
    }
    if (format[i] != '}') {
        return placeholder;
    }
    placeholder.valid = true;
    placeholder.end = i + 1;
    return placeholder;
}

// Never defined. Calling one during constant evaluation is what turns a bad
// format string into a compile error, and its name is the message the
// compiler shows.
void format_error_placeholder_without_argument();
void format_error_argument_without_placeholder();
void format_error_malformed_placeholder();
void format_error_unmatched_closing_brace();
void format_error_spec_does_not_suit_the_argument_type();

constexpr bool spec_suits(FormatSpec spec, ArgumentKind kind) {
    const bool is_integer = kind == ArgumentKind::Signed || kind == ArgumentKind::Unsigned;
    if (kind == ArgumentKind::Pointer) {
        // A pointer always shows all 16 digits; {:x} is allowed as a synonym.
        return !spec.zero_padded && spec.width == 0;
    }
    return is_integer || (!spec.hexadecimal && !spec.zero_padded);
}

constexpr void check_format_string(const char* format, const ArgumentKind* kinds, size_t count) {
    size_t used = 0;
    for (size_t i = 0; format[i] != '\0'; ++i) {
        if (format[i] == '{' && format[i + 1] == '{') {
            ++i;
        } else if (format[i] == '{') {
            const Placeholder placeholder = parse_placeholder(format, i);
            if (!placeholder.valid) {
                format_error_malformed_placeholder();
            }
            if (used == count) {
                format_error_placeholder_without_argument();
            }
            if (!spec_suits(placeholder.spec, kinds[used])) {
                format_error_spec_does_not_suit_the_argument_type();
            }
            ++used;
            i = placeholder.end - 1;
        } else if (format[i] == '}') {
            if (format[i + 1] != '}') {
                format_error_unmatched_closing_brace();
            }
            ++i;
        }
    }
    if (used != count) {
        format_error_argument_without_placeholder();
    }
}

// The few type traits the templates need; a freestanding build has no
// <type_traits>.

// Names T in a way that template argument deduction cannot see through, so
// that the argument types of a call are deduced from the arguments alone
// and not from the format string (std::type_identity_t).
template <typename T>
struct TypeIdentityOf {
    using Type = T;
};
template <typename T>
using TypeIdentity = typename TypeIdentityOf<T>::Type;

// The type an argument is formatted as: an array (a string literal, a char
// buffer) as a pointer to its first element.
template <typename T>
struct FormattedAs {
    using Type = T;
};
template <typename T, size_t Size>
struct FormattedAs<T[Size]> {
    using Type = const T*;
};

// Whether T is a character of another encoding than char, or a pointer to
// one: a type that has a FormatArgument constructor only by converting to
// an integer or to a pointer, and would print as a number or an address.
template <typename T>
inline constexpr bool kIsForeignCharacter = false;
template <>
inline constexpr bool kIsForeignCharacter<char8_t> = true;
template <>
inline constexpr bool kIsForeignCharacter<char16_t> = true;
template <>
inline constexpr bool kIsForeignCharacter<char32_t> = true;
template <>
inline constexpr bool kIsForeignCharacter<wchar_t> = true;
template <typename T>
inline constexpr bool kIsForeignCharacter<T*> = kIsForeignCharacter<T>;
template <typename T>
inline constexpr bool kIsForeignCharacter<const T*> = kIsForeignCharacter<T>;

// Which kind of argument a T becomes, found by asking the FormatArgument
// constructor that a T would pick. Any type without one fails to compile
// here, which is what makes the formatting type-safe.
template <typename T>
consteval ArgumentKind argument_kind() {
    using Formatted = typename FormattedAs<T>::Type;
    static_assert(!kIsForeignCharacter<Formatted>,
                  "format: char8_t, char16_t, char32_t and wchar_t, and strings of them, do not "
                  "print: a screen cell holds one byte; to show a character's code, pass it as an "
                  "integer");
    return FormatArgument(Formatted{}).kind();
}

// A format string that has been checked against the types of its arguments
// at compile time. It converts implicitly from a string literal, so callers
// just write print("x={}", x).
template <typename... Args>
class FormatString {
  public:
    consteval FormatString(const char* text) : text_(text) {
        // One element more than there are arguments, so that the array is
        // never of size zero.
        const ArgumentKind kinds[] = {argument_kind<Args>()..., ArgumentKind::Signed};
        check_format_string(text, kinds, sizeof...(Args));
    }

    [[nodiscard]] constexpr const char* text() const { return text_; }

  private:
    const char* text_;
};

// The formatting core: writes `format` to `sink` with its placeholders
// replaced by `arguments`. Everything else in this file leads here. The v
// is std::vformat_to's (and vprintf's): it takes the arguments as a list.
void vformat_to(OutputSink& sink, const char* format, const FormatArgument* arguments,
                size_t count);

template <typename... Args>
void format_to(OutputSink& sink, FormatString<TypeIdentity<Args>...> format, const Args&... args) {
    // The last element only keeps the array from being of size zero.
    const FormatArgument arguments[] = {FormatArgument(args)..., FormatArgument(false)};
    vformat_to(sink, format.text(), arguments, sizeof...(Args));
}
