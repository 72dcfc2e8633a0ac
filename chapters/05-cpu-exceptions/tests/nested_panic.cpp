// A test kernel of its own: a panic raised while a panic prints, as a fault
// in the middle of a panic's message would raise one. The second panic must
// halt the CPU at once and leave the first message as far as it got (the
// recursion guard of panic.cpp): begun again, it would print over the
// first, and a cause that recurs would panic again and again. So this test
// never reports a result; the harness checks the halt and the text
// (harness/test_04_panic.py).

#include "kernel_test.h"
#include "panic.h"
#include "print.h"
#include "serial_console.h"

KERNEL_TEST_SHOULD_PANIC(nested_panic_halts_with_the_first_message) {
    // A test's output may be in the middle of a line when it panics: the
    // panic must begin a line of its own, on the screen and on serial.
    print("the line before the panic");
    serial_print("the line before the panic");
    format_to(begin_panic(__FILE__, __LINE__), "the first panic, ");
    panic("the second panic");
}
