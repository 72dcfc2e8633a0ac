// The entry point of every test kernel of this chapter, in place of
// main.cpp: set up the serial port, on which the results go out, and run
// the tests the command line selects. Nothing else is set up, so the tests
// see the machine as the boot code left it. The screen is written to only
// where the boot information says it is in text mode (print.h).

#include <stdint.h>

#include "kernel_test.h"
#include "multiboot2.h"
#include "print.h"
#include "serial_console.h"

extern "C" void kernel_main(uint32_t multiboot_info_address) {
    const multiboot2::BootInformation boot_information(multiboot_info_address);
    set_screen_present(boot_information.why_no_vga_text_mode() == nullptr);
    if (!initialize_serial_console()) {
        // The results will go nowhere; the exit status still tells.
        println("No serial port: test results cannot be reported.");
    }
    ktest::run_tests(boot_information);
}
