// Chapter 3's kernel: shows what the VGA text writer can do, then panics on
// purpose to show what a panic looks like.

#include <stdint.h>

#include "early_serial.h"
#include "multiboot2.h"
#include "panic.h"
#include "print.h"
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

// Left without its newline: the panic that follows must start a row of
// its own.
void show_replacement() {
    // "é" is two bytes in UTF-8, so it becomes two blocks.
    print("Not printable ASCII: caf\xc3\xa9 [\t] [\x01] [\x7f] -> one block per byte");
}

}  // namespace

extern "C" void kernel_main(uint32_t multiboot_info_address) {
    // The writer needs VGA text mode, which a UEFI machine does not have
    // (chapter 2's main.cpp says more).
    const multiboot2::BootInformation boot_information(multiboot_info_address);
    if (const char* reason = boot_information.why_no_vga_text_mode()) {
        write_serial_line("No VGA text mode, so the demo is not shown:");
        write_serial_line(reason);
        return;
    }
    set_screen_present(true);

    clear_screen();
    print_in_color(kTitleColor, "Chapter 3: a VGA text writer with type-safe formatting");
    println("");

    show_scrolling();
    show_palette();
    show_integers();
    show_other_types();
    show_wrapping();
    show_replacement();

    // The demo's last act: a panic, to show its message, file and line.
    // panic() never returns; the CPU halts in halt_forever.
    panic("the demo ends here, on purpose (code {})", 42);
}
