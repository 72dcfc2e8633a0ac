// The test runner: runs the selected tests one after the other and reports
// each on serial in KTAP (kernel_test.h shows the output).

#include "kernel_test.h"

#include "panic.h"
#include "qemu_exit.h"
#include "serial_console.h"
#include "test_selection.h"

// Placed by the linker around the section kernel_tests (kernel_test.h).
extern "C" const ktest::TestCase __start_kernel_tests[];
extern "C" const ktest::TestCase __stop_kernel_tests[];

namespace ktest {

namespace {

// KTAP's lines are the runner's; whatever else reaches serial while a test
// runs is a diagnostic, and KTAP wants those to start with "# ".
constexpr const char* kDiagnosticPrefix = "# ";

// The run in progress. A panic does not return to the runner, so what the
// panic ending needs to finish the report is kept here.
struct Run {
    const char* command_line = "";
    // Why the machine has no VGA text mode (multiboot2.h); nullptr when it
    // has one.
    const char* why_no_vga_text_mode = nullptr;
    size_t reported = 0;
    const TestCase* current = nullptr;
    bool current_failed = false;
    bool all_passed = true;
};
constinit Run run;

[[nodiscard]] bool is_selected(const TestCase& test) {
    return TestSelection(run.command_line).includes(test.name);
}

void put_line_piece(SerialConsole& serial, ListedName piece) {
    for (size_t i = 0; i < piece.length(); ++i) {
        serial.put_char(piece.start()[i]);
    }
    serial.put_char('\n');
}

// A command line the selection cannot read, or a name in tests= that no
// test has, is a mistake, which must not pass as a run of all tests or of
// none.
[[nodiscard]] bool report_selection_mistakes(SerialConsole& serial) {
    const TestSelection selection(run.command_line);
    if (selection.problem() != nullptr) {
        format_to(serial, "# kernel command line: {}: ", selection.problem());
        put_line_piece(serial, selection.offending_word());
        return true;
    }
    bool any_unknown = false;
    selection.for_each_name([&](ListedName listed) {
        for (const TestCase* test = __start_kernel_tests; test != __stop_kernel_tests; ++test) {
            if (listed.is(test->name)) {
                return;
            }
        }
        any_unknown = true;
        format_to(serial, "# tests=: no test is named ");
        put_line_piece(serial, listed);
    });
    return any_unknown;
}

void report_result(SerialConsole& serial, const TestCase& test, bool passed) {
    serial.set_line_prefix("");
    format_to(serial, "{} {} {}\n", passed ? "ok" : "not ok", ++run.reported, test.name);
    run.all_passed &= passed;
}

// KTAP writes a skipped test as ok, with what it lacked after "# SKIP".
void report_skipped(SerialConsole& serial, const TestCase& test, const char* lacking,
                    const char* reason) {
    serial.set_line_prefix("");
    format_to(serial, "ok {} {} # SKIP {}: {}\n", ++run.reported, test.name, lacking, reason);
}

[[noreturn]] void finish() {
    qemu_exit(run.all_passed ? QemuExitCode::success : QemuExitCode::failure);
}

// Runs once a panic has printed its message, which went out as diagnostics
// of the running test. Nothing returns to the test or the runner, so the
// run ends here: the tests not yet run are reported as failed.
void end_run_after_panic() {
    SerialConsole& serial = serial_console_for_panic();
    const TestCase* panicked = run.current;
    if (panicked == nullptr) {
        // In the runner itself: there is no test to blame.
        run.all_passed = false;
        finish();
    }
    // A test that should panic passes only if it did, and if none of its
    // expectations failed before it did.
    report_result(serial, *panicked, panicked->ending == Ending::panics && !run.current_failed);
    for (const TestCase* test = panicked + 1; test != __stop_kernel_tests; ++test) {
        if (is_selected(*test)) {
            format_to(serial, "# not run: the kernel panicked in {}\n", panicked->name);
            report_result(serial, *test, false);
        }
    }
    finish();
}

void run_one(const TestCase& test) {
    if (test.needs == Needs::vga_text_mode && run.why_no_vga_text_mode != nullptr) {
        LockedSerialConsole serial;
        report_skipped(*serial, test, "no VGA text mode", run.why_no_vga_text_mode);
        return;
    }
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

void run_tests(const multiboot2::BootInformation& boot_information) {
    run.command_line = boot_information.command_line();
    run.why_no_vga_text_mode = boot_information.why_no_vga_text_mode();
    set_panic_ending(end_run_after_panic);
    {
        LockedSerialConsole serial;
        format_to(*serial, "KTAP version 1\n");
        if (report_selection_mistakes(*serial)) {
            format_to(*serial, "1..0\n");
            run.all_passed = false;
            finish();
        }
        size_t planned = 0;
        for (const TestCase* test = __start_kernel_tests; test != __stop_kernel_tests; ++test) {
            planned += is_selected(*test) ? 1 : 0;
        }
        format_to(*serial, "1..{}\n", planned);
    }
    for (const TestCase* test = __start_kernel_tests; test != __stop_kernel_tests; ++test) {
        if (is_selected(*test)) {
            run_one(*test);
        }
    }
    finish();
}

void fail_current_test() {
    run.current_failed = true;
}

}  // namespace ktest
