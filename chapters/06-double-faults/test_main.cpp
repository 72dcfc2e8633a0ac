// The entry point of every test kernel of this chapter, in place of
// main.cpp: set up the exception handlers, the GDT and TSS with the double
// fault stack, the guard page and the serial port, on which the results go
// out, and run the tests the command line selects.

#include <stdint.h>

#include "double_fault.h"
#include "exceptions.h"
#include "gdt.h"
#include "kernel_stack.h"
#include "kernel_symbols.h"
#include "kernel_test.h"
#include "multiboot2.h"
#include "print.h"
#include "serial_console.h"
#include "test_main.h"
#include "tss.h"

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
    // And so does a stack overflow, into the guard page: the double fault
    // it ends in is reported on a stack of its own.
    load_gdt_and_tss(initialize_task_state_segment());
    install_kernel_stack_guard();
    initialize_double_fault_handler();
    const multiboot2::BootInformation boot_information(multiboot_info_address);
    set_screen_present(boot_information.why_no_vga_text_mode() == nullptr);
    if (!initialize_serial_console()) {
        // The results will go nowhere; the exit status still tells.
        println("No serial port: test results cannot be reported.");
    }
    load_kernel_symbols(boot_information);
    ktest::run_tests(boot_information);
}
