// The expectations of kernel_test.h: each compares, and when the check
// fails, prints what was checked, where, and the values it found.

#include "kernel_test.h"
#include "serial_console.h"

namespace ktest {

bool check_condition(bool holds, const char* check, const char* condition,
                     SourceLocation location) {
    if (!holds) {
        LockedSerialConsole serial;
        format_to(*serial, "{}({}) failed at {}:{}\n", check, condition, location.file,
                  location.line);
        fail_current_test();
    }
    return holds;
}

namespace {

// Integers of any type and signedness compare by value; a char as the byte
// it is (kernel_test.h).
[[nodiscard]] bool numbers_equal(const FormatArgument& a, const FormatArgument& b) {
    auto value_of = [](const FormatArgument& argument, bool& negative) -> uint64_t {
        negative = false;
        switch (argument.kind()) {
            case ArgumentKind::Signed:
                negative = argument.as_signed() < 0;
                return static_cast<uint64_t>(argument.as_signed());
            case ArgumentKind::Character:
                return static_cast<uint8_t>(argument.as_character());
            default:
                return argument.as_unsigned();
        }
    };
    bool a_negative;
    bool b_negative;
    const uint64_t a_bits = value_of(a, a_negative);
    const uint64_t b_bits = value_of(b, b_negative);
    return a_negative == b_negative && a_bits == b_bits;
}

[[nodiscard]] bool strings_equal(const char* a, const char* b) {
    if (a == nullptr || b == nullptr) {
        return a == b;
    }
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

[[nodiscard]] bool values_equal(const FormatArgument& a, const FormatArgument& b) {
    switch (a.kind()) {
        case ArgumentKind::Boolean:
            return a.as_boolean() == b.as_boolean();
        case ArgumentKind::String:
            return strings_equal(a.as_string(), b.as_string());
        case ArgumentKind::Pointer:
            return a.as_address() == b.as_address();
        default:
            return numbers_equal(a, b);
    }
}

// One operand of a failed comparison: its source text and its value.
// Strings are quoted, so that spaces at their ends show; a char is shown
// with its byte, as it compares by it and may not be printable.
void show_operand(OutputSink& output, const char* text, const FormatArgument& value) {
    format_to(output, "  {}: ", text);
    if (value.kind() == ArgumentKind::String && value.as_string() != nullptr) {
        format_to(output, "\"{}\"\n", value.as_string());
    } else if (value.kind() == ArgumentKind::Character) {
        const char character = value.as_character();
        const auto byte = static_cast<uint8_t>(character);
        if (byte >= 0x20 && byte <= 0x7e) {
            format_to(output, "'{}' ", character);
        }
        format_to(output, "({:02x})\n", byte);
    } else {
        vformat_to(output, "{}", &value, 1);
        output.put_char('\n');
    }
}

}  // namespace

bool check_comparison(bool want_equal, const char* check, const char* actual_text,
                      const FormatArgument& actual, const char* expected_text,
                      const FormatArgument& expected, SourceLocation location) {
    const bool holds = values_equal(actual, expected) == want_equal;
    if (!holds) {
        LockedSerialConsole serial;
        format_to(*serial, "{}({}, {}) failed at {}:{}\n", check, actual_text, expected_text,
                  location.file, location.line);
        show_operand(*serial, actual_text, actual);
        show_operand(*serial, expected_text, expected);
        fail_current_test();
    }
    return holds;
}

}  // namespace ktest
