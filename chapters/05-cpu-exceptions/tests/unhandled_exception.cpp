// Integration test: an exception that nobody expects. The kernel's handler
// prints the report and panics, and the runner counts the panic as the
// test's success. The harness checks the report in the panic message.

#include <stdint.h>

#include "kernel_test.h"

// One byte: the address is odd, and a wider write would also be
// misaligned, which C++ leaves undefined (the UBSan build reports it).
extern "C" [[gnu::noinline]] void write_to_unmapped_memory() {
    *reinterpret_cast<volatile uint8_t*>(0xdeadbeef) = 1;
}

KERNEL_TEST_SHOULD_PANIC(exceptions_unhandled_page_fault_panics) {
    write_to_unmapped_memory();
}
