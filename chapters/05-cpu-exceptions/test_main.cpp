// The entry point of every test kernel of this chapter, in place of
// main.cpp: set up the exception handlers and the serial port, on which the
// results go out, and run the tests the command line selects.

#include <stdint.h>

#include "exceptions.h"
#include "kernel_symbols.h"
#include "kernel_test.h"
#include "multiboot2.h"
#include "print.h"
#include "serial_console.h"
#include "test_main.h"

namespace {

// Where the loader left the boot information, for booted_information().
constinit uint32_t booted_information_address = 0;

}  // namespace

multiboot2::BootInformation booted_information() {
    return multiboot2::BootInformation(booted_information_address);
}

extern "C" void kernel_main(uint32_t multiboot_info_address) {
    booted_information_address = multiboot_info_address;
    // A test that faults by mistake gets a report and fails, instead of
    // resetting the machine and taking the whole run with it.
    initialize_exceptions();
    const multiboot2::BootInformation boot_information(multiboot_info_address);
    set_screen_present(boot_information.why_no_vga_text_mode() == nullptr);
    if (!initialize_serial_console()) {
        // The results will go nowhere; the exit status still tells.
        println("No serial port: test results cannot be reported.");
    }
    load_kernel_symbols(boot_information);
    ktest::run_tests(boot_information);
}
