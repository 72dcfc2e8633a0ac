#pragma once

// The in-kernel test framework. A test is a function declared with one
// line; a test kernel runs them all and reports on serial.
//
//     #include "kernel_test.h"
//
//     KERNEL_TEST(format_zero) {
//         EXPECT_EQ(formatted("{} {:x}", 0, 0u).text(), "0 0x0");
//     }
//
//     KERNEL_TEST_SHOULD_PANIC(panic_ends_the_kernel) {
//         panic("on purpose");  // the test passes only if this panics
//     }
//
//     KERNEL_TEST_ON_SCREEN(vga_newline_starts_the_next_row) {
//         clear_screen();
//         print("a\nb");
//         EXPECT_EQ(screen_character(1, 0), 'b');
//         EXPECT_TRUE(screen_row_is_blank(2));
//     }
//
// A test that reads the screen back needs VGA text mode, which a machine
// booted through UEFI does not have. Declared with KERNEL_TEST_ON_SCREEN,
// it runs where the boot information says there is one, and is reported
// as skipped, with the reason, where there is not.
//
// Expectations, each printing what it checked, both values, file and line
// when it fails:
//
//     EXPECT_TRUE(condition)        EXPECT_FALSE(condition)
//     EXPECT_EQ(actual, expected)   EXPECT_NE(actual, unexpected)
//
// A failed expectation marks the test failed and the test goes on, so that
// one run shows every failed expectation; each returns whether it held,
// for a test that cannot go on without it:
//
//     if (!EXPECT_TRUE(table != nullptr)) return;
//
// EXPECT_EQ compares integers by value whatever their types (-1 is not
// equal to 0xffffffffu), a char as the byte it is (so '\xfe' equals
// 0xfe), strings by their text, pointers by address, enums by their
// number; any two values format.h can show, of kinds that can be compared.
//
// A panic ends the test, and the run: a test declared with KERNEL_TEST
// fails, one declared with KERNEL_TEST_SHOULD_PANIC passes (and fails if it
// returns). Tests after it cannot run, as the panic left the kernel in the
// middle of the panicking test, and are reported as failed. So a test that
// should panic runs alone: in a test kernel of its own, or selected alone on
// the kernel command line (test_selection.h), as the harness does by itself.
//
// Tests run in the order of the section: file by file in link order, and
// within a file in the order the compiler emits them (clang keeps the order
// of the source, GCC reverses it). Tests must not depend on each other.
//
// The runner prints KTAP version 1, the format of Linux's KUnit:
//
//     KTAP version 1
//     1..2
//     # running vga_scroll
//     ok 1 vga_scroll
//     # running vga_wrap
//     # EXPECT_EQ(row, 24) failed at tests/vga_tests.cpp:40
//     #   row: 23
//     #   24: 24
//     not ok 2 vga_wrap
//
// A skipped test is "ok 3 vga_wrap # SKIP no VGA text mode: ...". The
// runner ends QEMU with QemuExitCode::success if every test passed or was
// skipped, failure otherwise.

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "multiboot2.h"

namespace ktest {

// How a test is meant to end.
enum class Ending : uint32_t {
    returns = 0,
    panics = 1,
};

// What a test needs of the machine to run at all.
enum class Needs : uint32_t {
    nothing = 0,
    vga_text_mode = 1,
};

// What a test declaration leaves in the ELF section kernel_tests. The
// linker places the records of all files one after the other and marks
// the section's start and end (__start_kernel_tests, __stop_kernel_tests),
// which makes them an array the runner can walk, and the harness too: it
// reads the test names from the ELF file without booting it
// (harness/ktap.py, which relies on this layout).
//
// A compiler may give a large global more alignment than its type asks
// for, and the linker then pads between records, which breaks the array.
// An alignment equal to the size, set by hand, leaves no room for either.
struct alignas(32) TestCase {
    const char* name;
    void (*function)();
    Ending ending;
    Needs needs;
};
static_assert(sizeof(TestCase) == 32 && alignof(TestCase) == 32);
static_assert(offsetof(TestCase, name) == 0 && offsetof(TestCase, function) == 8 &&
              offsetof(TestCase, ending) == 16 && offsetof(TestCase, needs) == 20);

// Runs the tests that the kernel's command line selects with
// tests=NAME,NAME,..., or all of them when it names none
// (test_selection.h), and ends QEMU with the verdict. The boot information
// also says what the machine has, for the tests that need something.
[[noreturn]] void run_tests(const multiboot2::BootInformation& boot_information);

// Marks the running test as failed; the expectations call it.
void fail_current_test();

// Where an expectation is written in the test's source.
struct SourceLocation {
    const char* file;
    uint32_t line;
};

// The halves of the expectations that need no template.
bool check_condition(bool holds, const char* check, const char* condition, SourceLocation location);
bool check_comparison(bool want_equal, const char* check, const char* actual_text,
                      const FormatArgument& actual, const char* expected_text,
                      const FormatArgument& expected, SourceLocation location);

// An enum shows as its number; everything else as format.h shows it.
template <typename T>
constexpr auto as_formattable(T value) {
    if constexpr (__is_enum(T)) {
        return static_cast<__underlying_type(T)>(value);
    } else {
        return value;
    }
}

[[nodiscard]] constexpr bool is_number(ArgumentKind kind) {
    return kind == ArgumentKind::Signed || kind == ArgumentKind::Unsigned ||
           kind == ArgumentKind::Character;
}

// Values are taken by copy: that turns arrays (string literals) into
// pointers, and reads a volatile value exactly once.
template <typename Actual, typename Expected>
bool expect_equality(bool want_equal, const char* check, Actual actual, const char* actual_text,
                     Expected expected, const char* expected_text, SourceLocation location) {
    using ActualValue = decltype(as_formattable(actual));
    using ExpectedValue = decltype(as_formattable(expected));
    constexpr ArgumentKind actual_kind = argument_kind<ActualValue>();
    constexpr ArgumentKind expected_kind = argument_kind<ExpectedValue>();
    static_assert(
        actual_kind == expected_kind || (is_number(actual_kind) && is_number(expected_kind)),
        "EXPECT_EQ/EXPECT_NE: these two kinds of value cannot be compared");
    return check_comparison(want_equal, check, actual_text, FormatArgument(as_formattable(actual)),
                            expected_text, FormatArgument(as_formattable(expected)), location);
}

}  // namespace ktest

// Macros, because a function cannot see the text of its arguments, nor
// declare a function and the record that registers it in one line.

#define KTEST_DECLARE(name, ending, needs)                                                        \
    static void name##_test();                                                                    \
    [[gnu::section("kernel_tests"), gnu::used]] static constexpr ::ktest::TestCase name##_record{ \
        #name, name##_test, ending, needs};                                                       \
    static void name##_test()

#define KERNEL_TEST(name) KTEST_DECLARE(name, ::ktest::Ending::returns, ::ktest::Needs::nothing)
#define KERNEL_TEST_SHOULD_PANIC(name) \
    KTEST_DECLARE(name, ::ktest::Ending::panics, ::ktest::Needs::nothing)
#define KERNEL_TEST_ON_SCREEN(name) \
    KTEST_DECLARE(name, ::ktest::Ending::returns, ::ktest::Needs::vga_text_mode)

#define KTEST_HERE (::ktest::SourceLocation{__FILE__, __LINE__})

#define EXPECT_TRUE(condition) \
    ::ktest::check_condition(static_cast<bool>(condition), "EXPECT_TRUE", #condition, KTEST_HERE)
#define EXPECT_FALSE(condition) \
    ::ktest::check_condition(!(condition), "EXPECT_FALSE", #condition, KTEST_HERE)

#define EXPECT_EQ(actual, expected)                                                       \
    ::ktest::expect_equality(true, "EXPECT_EQ", (actual), #actual, (expected), #expected, \
                             KTEST_HERE)
#define EXPECT_NE(actual, unexpected)                                                          \
    ::ktest::expect_equality(false, "EXPECT_NE", (actual), #actual, (unexpected), #unexpected, \
                             KTEST_HERE)
