// A test that never ends, in the hanging_test kernel: the harness checks
// that its timeout names the test that hung.

#include "kernel_test.h"

KERNEL_TEST(hangs_in_an_endless_loop) {
    // The asm statement is what keeps the loop: an empty endless loop has
    // no observable effect, and C++ lets the compiler assume it ends.
    for (;;) {
        asm volatile("pause");
    }
}
