// A test kernel of its own: a panic raised while a panic prints, as a fault
// in the middle of a panic's message would raise one. The second panic must
// halt the CPU at once and leave the first message as far as it got (the
// recursion guard of panic.cpp): begun again, it would print over the
// first, and a cause that recurs would panic again and again. So this test
// never reports a result; the harness checks the halt and the text
// (harness/test_04_panic.py).

#include "kernel_test.h"
#include "panic.h"

KERNEL_TEST_SHOULD_PANIC(nested_panic_halts_with_the_first_message) {
    format_to(begin_panic(__FILE__, __LINE__), "the first panic, ");
    panic("the second panic");
}
