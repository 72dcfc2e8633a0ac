// Tests that fail on purpose, in the failing_tests kernel: the harness
// checks that each failure is reported with what was expected and found.
// Every other test kernel must pass; this one must fail, in just this way.

#include "kernel_test.h"
#include "panic.h"

KERNEL_TEST(fails_expect_eq_on_integers) {
    const int sum = 2 + 2;
    EXPECT_EQ(sum, 5);
}

KERNEL_TEST(fails_expect_eq_on_strings) {
    const char* greeting = "help";
    EXPECT_EQ(greeting, "hello");
}

KERNEL_TEST(fails_expect_true) {
    const int one = 1;
    EXPECT_TRUE(one > 2);
}

// Passes among tests that fail: a failure ends only its own test. Each
// comparison here holds by a promise of kernel_test.h that a simpler
// comparison would break.
KERNEL_TEST(passes_after_failed_tests) {
    EXPECT_NE(-1, 0xffffffffu);
    // The same 64 bits, but one is negative and the other is not.
    EXPECT_NE(-1, UINT64_MAX);
    // A char compares as its byte, though char is signed on x86.
    EXPECT_EQ('\xfe', 0xfe);
    // A prefix is not the string, whichever side it is on.
    EXPECT_NE("hel", "hello");
    EXPECT_NE("hello", "hel");
    // A null string has no text, not even an empty one.
    const char* none = nullptr;
    EXPECT_NE(none, "");
    // A bool compares as true or false, not as the number its bytes would make.
    const int sum = 2 + 2;
    EXPECT_EQ(sum == 4, true);
    EXPECT_NE(sum == 5, true);
    // Pointers compare by address, not by what they point at.
    const int first = 1;
    const int second = 1;
    EXPECT_EQ(&first, &first);
    EXPECT_NE(&first, &second);
    EXPECT_FALSE(false);
}

// Each expectation returns whether it held, for a test that cannot go on
// without it (kernel_test.h): one that failed must return false, or the
// test would go on where it meant to stop.
KERNEL_TEST(fails_expect_ne) {
    const int sum = 2 + 2;
    if (EXPECT_NE(sum, 4)) {
        panic("EXPECT_NE(sum, 4) returned true, as if it held");
    }
}

KERNEL_TEST(fails_expect_false) {
    const int one = 1;
    if (EXPECT_FALSE(one < 2)) {
        panic("EXPECT_FALSE(one < 2) returned true, as if it held");
    }
}

// A char is shown as itself and as the byte it compares by.
KERNEL_TEST(fails_expect_eq_on_characters) {
    const char grade = 'b';
    EXPECT_EQ(grade, 'a');
    // The first and the last printable character are shown as themselves.
    EXPECT_EQ(' ', '~');
}

KERNEL_TEST_SHOULD_PANIC(fails_by_returning_instead_of_panicking) {}

// It panics as declared, but an expectation failed before the panic: the
// failure must not be lost in the panic.
KERNEL_TEST_SHOULD_PANIC(fails_an_expectation_then_panics) {
    const int product = 2 * 3;
    EXPECT_EQ(product, 7);
    panic("as declared, after the failed expectation");
}
