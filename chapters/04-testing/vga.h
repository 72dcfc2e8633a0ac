#pragma once

#include <stddef.h>
#include <stdint.h>

#include "output_sink.h"

// The 16 colours of the VGA text palette, numbered as the hardware numbers
// them.
enum class Color : uint8_t {
    Black = 0,
    Blue = 1,
    Green = 2,
    Cyan = 3,
    Red = 4,
    Magenta = 5,
    Brown = 6,
    LightGray = 7,
    DarkGray = 8,
    LightBlue = 9,
    LightGreen = 10,
    LightCyan = 11,
    LightRed = 12,
    Pink = 13,
    Yellow = 14,
    White = 15,
};

// The attribute byte of a screen cell: background colour in the high four
// bits, foreground in the low four. By default a real VGA reads the top
// bit as "blink" rather than as part of the background, so backgrounds 8-15
// show as their darker twins 0-7 with blinking text. (QEMU's VGA ignores
// that setting: it shows all sixteen backgrounds and never blinks.)
class ColorCode {
  public:
    constexpr ColorCode(Color foreground, Color background)
        : value_(static_cast<uint8_t>(static_cast<uint8_t>(background) << 4 |
                                      static_cast<uint8_t>(foreground))) {}

    [[nodiscard]] constexpr uint8_t value() const { return value_; }

  private:
    uint8_t value_;
};
static_assert(sizeof(ColorCode) == 1, "the hardware reads the attribute as one byte");

// Writes text into the VGA text buffer: 25 rows of 80 cells, row after row,
// starting at the top left. A newline starts the next row; a character that
// does not fit on its row starts the next one; at the bottom of the screen
// everything moves up a row and the oldest row is gone.
//
// It is a sink for the formatting core, so everything format.h can format
// can be written on the screen.
//
// It writes nothing until told that the screen is in VGA text mode
// (set_present): under UEFI there is no text mode, and 0xb8000 may be plain
// memory, or nothing. Only the boot information can say, so the kernel's
// entry tells the writer what it says. Told that the screen is there, the
// writer hides the hardware cursor: it keeps its own place on the screen,
// and the blinking underline would stay wherever the loader left it. Told
// that the screen is not there, it leaves the VGA's ports alone.
class VgaWriter final : public OutputSink {
  public:
    static constexpr size_t kColumns = 80;
    static constexpr size_t kRows = 25;

    constexpr explicit VgaWriter(ColorCode color) : color_(color) {}

    // Bytes outside printable ASCII (0x20-0x7e) appear as code page 437's
    // block, 0xfe, except '\n', which starts a new row.
    void put_char(char character) override;

    void clear();
    void set_present(bool present);
    void set_color(ColorCode color) { color_ = color; }
    [[nodiscard]] ColorCode color() const { return color_; }
    // Whether the cursor is at the start of a row.
    [[nodiscard]] bool at_line_start() const { return column_ == 0; }

  private:
    void new_line();
    void scroll_up();
    void clear_row(size_t row);

    size_t row_ = 0;
    size_t column_ = 0;
    ColorCode color_;
    bool present_ = false;
};
