// Chapter 5's kernel: installs the exception handlers, then shows both
// kinds of ending an exception can have. A breakpoint is reported and the
// kernel carries on; then a write to unmapped memory raises a page fault,
// whose handler prints the full report and panics. That last fault is on
// purpose, so that `make run` shows what a fault report looks like.

#include <stdint.h>

#include "exceptions.h"
#include "kernel_symbols.h"
#include "multiboot2.h"
#include "print.h"
#include "serial_console.h"
#include "vga.h"

namespace {

constexpr ColorCode kTitleColor{Color::Yellow, Color::Blue};

// boot.asm maps the first GiB only; this address lies beyond it. It is
// written as one byte: the address is odd, and a wider write would also be
// misaligned, which C++ leaves undefined (the UBSan build reports it).
constexpr uint64_t kUnmappedAddress = 0xdeadbeef;

}  // namespace

// Not inlined, so that the report names this function; extern "C", so that
// it names it plainly (kernel_symbols.h shows what a C++ name looks like).
extern "C" [[gnu::noinline]] void write_to_unmapped_memory() {
    *reinterpret_cast<volatile uint8_t*>(kUnmappedAddress) = 42;
}

extern "C" void kernel_main(uint32_t multiboot_info_address) {
    // First, so that whatever goes wrong from here on is reported instead
    // of resetting the machine.
    initialize_exceptions();
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
        format_to(*screen, "Chapter 5: CPU exceptions");
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

    println("Writing to unmapped memory at {:x}...", kUnmappedAddress);
    write_to_unmapped_memory();
}
