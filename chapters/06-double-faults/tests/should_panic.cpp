// Integration test: panic() during a test. The runner reports the test as
// passed when it panics and as failed if it returns; the harness checks the
// panic message that went out on serial.

#include "kernel_test.h"
#include "panic.h"

KERNEL_TEST_SHOULD_PANIC(should_panic_panic_ends_the_test) {
    panic("on purpose, code {}", 42);
}
