// Chapter 4's kernel: chapter 3's demonstration of the screen, and the
// serial port beside it. The rest of the step shows in the test kernels
// (test_main.cpp and tests/), which `make test` boots.

#include <stdint.h>

#include "multiboot2.h"
#include "print.h"
#include "serial_console.h"
#include "vga.h"

namespace {

constexpr ColorCode kTitleColor{Color::Yellow, Color::Blue};
constexpr ColorCode kLongLineColor{Color::Black, Color::Cyan};

constexpr const char* kColorNames[] = {
    "Black",    "Blue",      "Green",    "Cyan",      "Red",        "Magenta",
    "Brown",    "LightGray", "DarkGray", "LightBlue", "LightGreen", "LightCyan",
    "LightRed", "Pink",      "Yellow",   "White",
};
static_assert(sizeof(kColorNames) / sizeof(kColorNames[0]) == 16);

template <typename... Args>
void print_in_color(ColorCode color, FormatString<TypeIdentity<Args>...> format,
                    const Args&... args) {
    // One lock for the change of colour, the text and the change back, so
    // that no other output can come out in this colour.
    LockedScreen screen;
    const ColorCode previous = screen->color();
    screen->set_color(color);
    format_to(*screen, format, args...);
    screen->set_color(previous);
}

// Seventeen rows: with the title and the rows that follow, more than the
// screen's 25, so the title and the top of this table scroll away.
void show_scrolling() {
    println("Powers of two, enough rows to make the screen scroll:");
    for (unsigned shift = 0; shift < 64; shift += 4) {
        const uint64_t power = uint64_t{1} << shift;
        println("1 << {:2} = {:20} = {:016x}", shift, power, power);
    }
}

// Each colour's name in that colour, then the eight background colours.
void show_palette() {
    print("Colours:    ");
    for (uint8_t index = 0; index < 16; ++index) {
        if (index == 8) {
            print("\n            ");
        }
        const auto color = static_cast<Color>(index);
        // Black text on the black background would be invisible.
        const Color background = color == Color::Black ? Color::LightGray : Color::Black;
        print_in_color(ColorCode{color, background}, "{}", kColorNames[index]);
        print(" ");
    }
    print("\nBackgrounds:");
    for (uint8_t index = 0; index < 8; ++index) {
        print_in_color(ColorCode{Color::White, static_cast<Color>(index)}, " {} ", index);
    }
    println("");
}

void show_integers() {
    println("int64_t  {} .. {}", INT64_MIN, INT64_MAX);
    println("uint64_t {} .. {}", uint64_t{0}, UINT64_MAX);
    println("int8_t {} .. {}  uint8_t {}  int16_t {} .. {}  uint16_t {}", int8_t{INT8_MIN},
            int8_t{INT8_MAX}, uint8_t{UINT8_MAX}, int16_t{INT16_MIN}, int16_t{INT16_MAX},
            uint16_t{UINT16_MAX});
    println("int32_t {} .. {}  uint32_t {}", int32_t{INT32_MIN}, int32_t{INT32_MAX},
            uint32_t{UINT32_MAX});
    println("hex {:x} {:x} {:x} {:08x} {:016x}", 255, -1, UINT64_MAX, 0xb8000u,
            uint64_t{0xdeadbeef});
    // Spaces go before the sign and the 0x, zeros after them.
    println("width [{:6}] [{:6}] [{:06}] [{:6x}] [{:6}] [{:6}] [{:3}]", 42, -42, -42, 255, "text",
            true, 'c');
}

void show_other_types() {
    const auto* vga_buffer = reinterpret_cast<const volatile uint16_t*>(0xb8000);
    println("pointers {} {}  bool {} {}  char {}{}", vga_buffer, nullptr, true, false, 'o', 'k');
    const char* const no_text = nullptr;
    println("a null string {}  literal braces {{ }}", no_text);
}

void show_wrapping() {
    // Exactly 80 characters and a newline take one row, not a full row and
    // an empty one: the writer wraps only when a character needs the room.
    for (unsigned column = 1; column <= VgaWriter::kColumns; ++column) {
        print("{}", column % 10);
    }
    println("");
    // In a colour of its own: the row it continues on is new, blanked in
    // the colour of the moment, so the background runs to that row's end.
    print_in_color(kLongLineColor,
                   "A line longer than the screen is wide does not get lost: the writer continues "
                   "it on the next row.");
    println("");
}

void show_replacement() {
    // "é" is two bytes in UTF-8, so it becomes two blocks.
    println("Not printable ASCII: caf\xc3\xa9 [\t] [\x01] [\x7f] -> one block per byte");
}

// The command line is what follows the kernel's path on the multiboot2
// line of grub.cfg; the test kernels read their selection of tests from it.
void show_serial(bool serial_present, const char* command_line) {
    if (!serial_present) {
        println("Serial: no UART answers at COM1.");
        return;
    }
    println("Serial: COM1 at 115200 baud, 8N1. Command line: \"{}\"", command_line);
    serial_println("Chapter 4: the serial port works. Command line: \"{}\"", command_line);
}

}  // namespace

extern "C" void kernel_main(uint32_t multiboot_info_address) {
    const bool serial_present = initialize_serial_console();
    const multiboot2::BootInformation boot_information(multiboot_info_address);
    // The demo is for the screen, which a UEFI machine does not have in
    // text mode (chapter 2's main.cpp says more).
    if (const char* reason = boot_information.why_no_vga_text_mode()) {
        serial_println("No VGA text mode, so the demo is not shown: {}", reason);
        return;
    }
    set_screen_present(true);

    clear_screen();
    print_in_color(kTitleColor, "Chapter 4: a serial port and in-kernel tests");
    println("");

    show_scrolling();
    show_palette();
    show_integers();
    show_other_types();
    show_wrapping();
    show_replacement();
    show_serial(serial_present, boot_information.command_line());

    // No panic at the end this time: chapter 3 showed one, and now the
    // should_panic test kernel checks it. Returning to boot.asm halts the
    // CPU, which is how a kernel with nothing left to do ends.
}
