// Chapter 2's kernel: the C++ entry point, reached in 64-bit long mode.

#include <stddef.h>
#include <stdint.h>

#include "early_serial.h"
#include "multiboot2.h"

namespace {

// The VGA text buffer: 25 rows of 80 cells, each cell two bytes, the
// character (code page 437) in the low byte and its colour in the high
// byte. Writes to it appear on the screen, so the compiler must not drop or
// reorder them: hence volatile.
auto* const vga_text_buffer = reinterpret_cast<volatile uint16_t*>(0xb8000);

// Colour attribute: background in the high four bits, foreground in the
// low four. 0x0a is light green (10) on black (0).
constexpr uint8_t kLightGreenOnBlack = 0x0a;

}  // namespace

extern "C" void kernel_main(uint32_t multiboot_info_address) {
    // Under a BIOS the screen is in VGA text mode when GRUB hands over.
    // UEFI has no text mode: its firmware leaves the screen in a graphics
    // mode, and 0xb8000 may be plain memory, or nothing. The boot
    // information says which; a kernel that wrote there anyway would fail
    // without a trace.
    const multiboot2::BootInformation boot_information(multiboot_info_address);
    if (const char* reason = boot_information.why_no_vga_text_mode()) {
        write_serial_line("No VGA text mode, so Hello World! is not shown:");
        write_serial_line(reason);
        return;
    }

    const char message[] = "Hello World!";
    for (size_t i = 0; message[i] != '\0'; ++i) {
        vga_text_buffer[i] = static_cast<uint16_t>(kLightGreenOnBlack << 8 | message[i]);
    }
}
