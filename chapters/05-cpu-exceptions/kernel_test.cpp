#include "kernel_test.h"

#include "panic.h"
#include "qemu_exit.h"
#include "serial_console.h"

// Placed by the linker around the section kernel_tests (kernel_test.h).
extern "C" const ktest::TestCase __start_kernel_tests[];
extern "C" const ktest::TestCase __stop_kernel_tests[];

namespace ktest {

namespace {

// KTAP's lines are the runner's; whatever else reaches serial while a test
// runs is a diagnostic, and KTAP wants those to start with "# ".
constexpr const char* kDiagnosticPrefix = "# ";

constexpr const char* kSelectOption = "tests=";

// The run in progress. A panic leaves the runner's stack frame for good, so
// what the panic ending needs to finish the report lives here.
struct Run {
    const char* selection = nullptr;  // the list after tests=, or nullptr
    size_t planned = 0;
    size_t reported = 0;
    const TestCase* current = nullptr;
    bool current_failed = false;
    bool all_passed = true;
};
constinit Run run;

[[nodiscard]] bool ends_word(char character) {
    return character == '\0' || character == ' ';
}

// Where the value of `option` starts in the command line, or nullptr.
[[nodiscard]] const char* find_option(const char* command_line, const char* option) {
    for (const char* word = command_line; *word != '\0'; ++word) {
        if (word != command_line && word[-1] != ' ') {
            continue;
        }
        size_t i = 0;
        while (option[i] != '\0' && word[i] == option[i]) {
            ++i;
        }
        if (option[i] == '\0') {
            return word + i;
        }
    }
    return nullptr;
}

// Whether `item`, which ends at a comma or the end of the word, is `name`.
[[nodiscard]] bool item_is(const char* item, const char* name) {
    size_t i = 0;
    while (name[i] != '\0' && item[i] == name[i]) {
        ++i;
    }
    return name[i] == '\0' && (item[i] == ',' || ends_word(item[i]));
}

// Calls visit(item) for each item of a comma-separated list ending at the
// end of its word.
template <typename Visit>
void for_each_item(const char* list, Visit visit) {
    const char* item = list;
    for (;;) {
        visit(item);
        while (*item != ',' && !ends_word(*item)) {
            ++item;
        }
        if (*item != ',') {
            return;
        }
        ++item;
    }
}

[[nodiscard]] bool is_selected(const TestCase& test) {
    if (run.selection == nullptr) {
        return true;
    }
    bool selected = false;
    for_each_item(run.selection, [&](const char* item) { selected |= item_is(item, test.name); });
    return selected;
}

// Names in the selection that no test has: a typo, which must not pass as
// a run of zero tests.
[[nodiscard]] bool report_unknown_names(SerialConsole& serial) {
    bool any_unknown = false;
    for_each_item(run.selection, [&](const char* item) {
        for (const TestCase* test = __start_kernel_tests; test != __stop_kernel_tests; ++test) {
            if (item_is(item, test->name)) {
                return;
            }
        }
        any_unknown = true;
        format_to(serial, "# tests=: no test is named ");
        for (; *item != ',' && !ends_word(*item); ++item) {
            serial.put_char(*item);
        }
        serial.put_char('\n');
    });
    return any_unknown;
}

void report_result(SerialConsole& serial, const TestCase& test, bool passed) {
    serial.set_line_prefix("");
    format_to(serial, "{} {} {}\n", passed ? "ok" : "not ok", ++run.reported, test.name);
    run.all_passed &= passed;
}

[[noreturn]] void finish(SerialConsole& serial) {
    serial.set_line_prefix("");
    qemu_exit(run.all_passed ? QemuExitCode::success : QemuExitCode::failure);
}

// Runs after a panic has printed its message, which went out as
// diagnostics of the running test. The test's stack frames are abandoned,
// so the run ends here.
void end_run_after_panic() {
    SerialConsole& serial = serial_console_for_panic();
    const TestCase* panicked = run.current;
    if (panicked == nullptr) {
        format_to(serial, "\n# panic outside of any test\n");
        run.all_passed = false;
        finish(serial);
    }
    report_result(serial, *panicked, panicked->ending == Ending::panics);
    for (const TestCase* test = panicked + 1; test != __stop_kernel_tests; ++test) {
        if (is_selected(*test)) {
            format_to(serial, "# not run: the kernel panicked in {}\n", panicked->name);
            report_result(serial, *test, false);
        }
    }
    finish(serial);
}

void run_one(const TestCase& test) {
    {
        LockedSerialConsole serial;
        serial->set_line_prefix(kDiagnosticPrefix);
        format_to(*serial, "running {}\n", test.name);
    }
    run.current = &test;
    run.current_failed = false;
    test.function();
    run.current = nullptr;

    LockedSerialConsole serial;
    if (test.ending == Ending::panics) {
        format_to(*serial, "expected a panic, but {} returned\n", test.name);
        run.current_failed = true;
    }
    report_result(*serial, test, !run.current_failed);
}

}  // namespace

void run_tests(const char* command_line) {
    run.selection = find_option(command_line, kSelectOption);
    set_panic_ending(end_run_after_panic);
    {
        LockedSerialConsole serial;
        format_to(*serial, "KTAP version 1\n");
        if (run.selection != nullptr && report_unknown_names(*serial)) {
            format_to(*serial, "1..0\n");
            run.all_passed = false;
            finish(*serial);
        }
        for (const TestCase* test = __start_kernel_tests; test != __stop_kernel_tests; ++test) {
            run.planned += is_selected(*test) ? 1 : 0;
        }
        format_to(*serial, "1..{}\n", run.planned);
    }
    for (const TestCase* test = __start_kernel_tests; test != __stop_kernel_tests; ++test) {
        if (is_selected(*test)) {
            run_one(*test);
        }
    }
    LockedSerialConsole serial;
    finish(*serial);
}

bool check_condition(bool holds, const char* check, const char* condition,
                     SourceLocation location) {
    if (!holds) {
        LockedSerialConsole serial;
        format_to(*serial, "{}({}) failed at {}:{}\n", check, condition, location.file,
                  location.line);
        run.current_failed = true;
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

// One operand of a failed comparison: its source text and its value,
// strings in quotes so that spaces at their ends show.
void show_operand(OutputSink& output, const char* text, const FormatArgument& value) {
    const bool quoted = value.kind() == ArgumentKind::String && value.as_string() != nullptr;
    format_to(output, "  {}: {}", text, quoted ? "\"" : "");
    vformat_to(output, "{}", &value, 1);
    format_to(output, "{}\n", quoted ? "\"" : "");
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
        run.current_failed = true;
    }
    return holds;
}

}  // namespace ktest
