// The entry point of every test kernel of this chapter, in place of
// main.cpp: set up the serial port, on which the results go out, and run
// the tests the command line selects. Nothing else is set up, so the tests
// see the machine as the boot code left it.

#include <stdint.h>

#include "kernel_test.h"
#include "multiboot2.h"
#include "print.h"
#include "serial_console.h"

extern "C" void kernel_main(uint32_t multiboot_info_address) {
    if (!initialize_serial_console()) {
        // The results will go nowhere; the exit status still tells.
        println("No serial port: test results cannot be reported.");
    }
    ktest::run_tests(multiboot2::BootInformation(multiboot_info_address));
}
