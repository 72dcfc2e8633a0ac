#include "format.h"

namespace {

void put_repeated(OutputSink& sink, char character, size_t count) {
    for (size_t i = 0; i < count; ++i) {
        sink.put_char(character);
    }
}

void put_string(OutputSink& sink, const char* text) {
    for (; *text != '\0'; ++text) {
        sink.put_char(*text);
    }
}

[[nodiscard]] size_t string_length(const char* text) {
    size_t length = 0;
    while (text[length] != '\0') {
        ++length;
    }
    return length;
}

// Text is padded on the right, as in std::format.
void pad_text(OutputSink& sink, size_t length, FormatSpec spec) {
    if (length < spec.width) {
        put_repeated(sink, ' ', spec.width - length);
    }
}

void put_text(OutputSink& sink, const char* text, FormatSpec spec) {
    put_string(sink, text);
    pad_text(sink, string_length(text), spec);
}

// Writes a number given as sign and magnitude. Taking the magnitude as an
// unsigned value is what lets INT64_MIN through: its magnitude, 2^63, does
// not fit in an int64_t, so negating it there would be undefined behaviour.
void put_number(OutputSink& sink, bool negative, uint64_t magnitude, FormatSpec spec) {
    const uint64_t base = spec.hexadecimal ? 16 : 10;
    // 20 digits hold UINT64_MAX in decimal, 16 in hexadecimal.
    char digits[20];
    size_t count = 0;
    do {
        digits[count++] = "0123456789abcdef"[magnitude % base];
        magnitude /= base;
    } while (magnitude != 0);

    // The 0x prefix is not counted in the width; the sign is (format.h).
    const size_t length = count + (negative ? 1 : 0);
    const size_t padding = length < spec.width ? spec.width - length : 0;
    if (!spec.zero_padded) {
        put_repeated(sink, ' ', padding);
    }
    if (negative) {
        sink.put_char('-');
    }
    if (spec.hexadecimal) {
        put_string(sink, "0x");
    }
    if (spec.zero_padded) {
        put_repeated(sink, '0', padding);
    }
    while (count > 0) {
        sink.put_char(digits[--count]);
    }
}

void put_argument(OutputSink& sink, const FormatArgument& argument, FormatSpec spec) {
    switch (argument.kind()) {
        case ArgumentKind::Signed: {
            const int64_t value = argument.as_signed();
            const uint64_t magnitude =
                value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
            put_number(sink, value < 0, magnitude, spec);
            break;
        }
        case ArgumentKind::Unsigned:
            put_number(sink, false, argument.as_unsigned(), spec);
            break;
        case ArgumentKind::Character:
            // Written as itself rather than as a string of one, where a
            // '\0' would end the string before it and be lost.
            sink.put_char(argument.as_character());
            pad_text(sink, 1, spec);
            break;
        case ArgumentKind::Boolean:
            put_text(sink, argument.as_boolean() ? "true" : "false", spec);
            break;
        case ArgumentKind::String: {
            const char* text = argument.as_string();
            put_text(sink, text != nullptr ? text : "(null)", spec);
            break;
        }
        case ArgumentKind::Pointer:
            // Every pointer gets all 16 digits, so that addresses line up.
            put_number(sink, false, argument.as_address(),
                       FormatSpec{.zero_padded = true, .width = 16, .hexadecimal = true});
            break;
    }
}

}  // namespace

void vformat_to(OutputSink& sink, const char* format, const FormatArgument* arguments,
                size_t count) {
    size_t next_argument = 0;
    for (size_t i = 0; format[i] != '\0'; ++i) {
        const bool escaped_brace =
            (format[i] == '{' || format[i] == '}') && format[i + 1] == format[i];
        // Through FormatString every placeholder is valid and has its
        // argument; the checks here protect only a direct caller who
        // passes a format string of its own making.
        const Placeholder placeholder =
            format[i] == '{' && !escaped_brace ? parse_placeholder(format, i) : Placeholder{};
        if (placeholder.valid) {
            if (next_argument < count) {
                put_argument(sink, arguments[next_argument++], placeholder.spec);
            }
            i = placeholder.end - 1;
            continue;
        }
        if (escaped_brace) {
            ++i;
        }
        sink.put_char(format[i]);
    }
}
