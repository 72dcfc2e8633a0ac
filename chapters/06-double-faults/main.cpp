// Chapter 6's kernel: installs the exception handlers, loads its own GDT
// with a TSS, unmaps the page below the kernel stack and gives the double
// fault handler a stack of its own. A breakpoint shows that exceptions
// still return, through the new GDT; then the kernel overflows its stack on
// purpose. The push into the guard page faults, delivering that page fault
// faults again, and the double fault handler, on its own stack, prints its
// report and panics: what `make run` shows where, without this step, the
// machine would reset.

#include <stdint.h>

#include "double_fault.h"
#include "exceptions.h"
#include "gdt.h"
#include "kernel_stack.h"
#include "kernel_symbols.h"
#include "multiboot2.h"
#include "print.h"
#include "serial_console.h"
#include "stack_overflow.h"
#include "tss.h"
#include "vga.h"

namespace {

constexpr ColorCode kTitleColor{Color::Yellow, Color::Blue};

void print_range(const char* name, AddressRange range) {
    println("{:26} {:016x}-{:016x}", name, range.begin, range.end);
}

}  // namespace

extern "C" void kernel_main(uint32_t multiboot_info_address) {
    // First, so that whatever goes wrong from here on is reported instead
    // of resetting the machine.
    initialize_exceptions();
    load_gdt_and_tss(initialize_task_state_segment());
    install_kernel_stack_guard();
    initialize_double_fault_handler();
    const bool serial_present = initialize_serial_console();
    const multiboot2::BootInformation boot_information(multiboot_info_address);
    load_kernel_symbols(boot_information);
    // The demo is for the screen, which a UEFI machine does not have in
    // text mode (chapter 2's main.cpp says more).
    if (const char* reason = boot_information.why_no_vga_text_mode()) {
        serial_println("No VGA text mode, so the demo is not shown: {}", reason);
        return;
    }
    set_screen_present(true);

    clear_screen();
    {
        LockedScreen screen;
        screen->set_color(kTitleColor);
        format_to(*screen, "Chapter 6: double faults");
        screen->set_color(kDefaultTextColor);
        screen->put_char('\n');
    }
    if (!serial_present) {
        println("Serial: no UART answers at COM1; reports go to the screen only.");
    }

    println("Hitting a breakpoint (int3)...");
    asm volatile("int3");
    println("It did not crash: the breakpoint handler returned.");
    serial_println("It did not crash: the breakpoint handler returned.");

    print_range("Guard pages (unmapped):", kernel_stack_guard());
    print_range("Kernel stack:", kernel_stack());
    print_range("Double fault stack (IST1):", double_fault_stack());
    println("Overflowing the kernel stack on purpose...");
    overflow_stack();
}
