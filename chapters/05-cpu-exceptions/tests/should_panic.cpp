// Integration tests: panic() during a test. The runner reports a test as
// passed when it panics and as failed if it returns; the harness checks the
// panic message that went out on serial.

#include "kernel_test.h"
#include "panic.h"
#include "print.h"

KERNEL_TEST_SHOULD_PANIC(should_panic_panic_ends_the_test) {
    panic("on purpose, code {}", 42);
}

// On a full screen the newline that ends the message scrolls it, and the
// row that comes in is blanked in the colour of that moment: it must be the
// normal one again, or the red runs on below the message. Once the panic is
// over no test can look; the harness boots this one without QEMU's exit
// device, so that the kernel halts with the screen as the panic left it
// (harness/test_04_panic.py).
KERNEL_TEST_SHOULD_PANIC(should_panic_on_the_bottom_row) {
    for (size_t row = 0; row < VgaWriter::kRows; ++row) {
        println("filling the screen, row {}", row);
    }
    panic("on the bottom row");
}
