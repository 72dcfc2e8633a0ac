// Chapter 2's kernel: the C++ entry point, reached in 64-bit long mode.

#include <stddef.h>
#include <stdint.h>

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

extern "C" void kernel_main(uint32_t /* multiboot_info_address */) {
    const char message[] = "Hello World!";
    for (size_t i = 0; message[i] != '\0'; ++i) {
        vga_text_buffer[i] = static_cast<uint16_t>(kLightGreenOnBlack << 8 | message[i]);
    }
}
