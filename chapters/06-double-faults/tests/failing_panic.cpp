// A test that panics without being declared to, in the failing_tests
// kernel. Its own file, linked after failing_expectations.cpp, so that it
// runs after those tests whatever order a compiler gives the tests of one
// file.

#include "kernel_test.h"
#include "panic.h"

KERNEL_TEST(fails_by_panicking) {
    panic("unexpected, code {}", 7);
}
