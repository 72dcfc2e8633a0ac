#include "vga.h"

#include "io_port.h"

namespace {

// The text buffer as the hardware lays it out: row after row of cells, each
// cell the character (a code page 437 byte) in its low byte and the colour
// attribute in its high byte. Writes to it appear on the screen, so the
// compiler must neither drop nor reorder them: hence volatile.
struct TextBuffer {
    volatile uint16_t cells[VgaWriter::kRows][VgaWriter::kColumns];
};
static_assert(sizeof(TextBuffer) == 80 * 25 * 2, "25 rows of 80 two-byte cells");

auto& text_buffer = *reinterpret_cast<TextBuffer*>(0xb8000);

// Code page 437's filled square: a visible stand-in for a byte that has no
// printable ASCII meaning, rather than whatever glyph CP437 happens to give
// it (a smiley for 0x01, a musical note for 0x0e, ...).
constexpr uint8_t kReplacementCharacter = 0xfe;

[[nodiscard]] constexpr uint8_t glyph_for(char character) {
    const auto byte = static_cast<uint8_t>(character);
    return byte >= 0x20 && byte <= 0x7e ? byte : kReplacementCharacter;
}

[[nodiscard]] constexpr uint16_t cell(uint8_t glyph, ColorCode color) {
    return static_cast<uint16_t>(color.value() << 8 | glyph);
}

// The VGA's CRT controller draws the screen, the hardware cursor included.
// Its many registers share two ports: the number of a register goes to the
// index port, then its value is read or written at the data port. In a
// colour text mode, the one whose buffer is at 0xb8000, they are at
// 0x3d4 and 0x3d5.
constexpr IoPort kCrtcIndex{0x3d4};
constexpr IoPort kCrtcData{0x3d5};
constexpr uint8_t kCursorStartRegister = 0x0a;
constexpr uint8_t kCursorDisable = 1 << 5;

// Sets only the disable bit. The register's other bits are the cursor's
// first scan line in its cell, which the firmware chose for the font, and
// two reserved bits; writing the bare bit would zero them, and a cursor
// turned on again later would be a tall block instead of the firmware's
// underline. Hence a read, then a write of what was read, bit 5 set.
void hide_hardware_cursor() {
    kCrtcIndex.write(kCursorStartRegister);
    const uint8_t cursor_start = kCrtcData.read();
    kCrtcData.write(cursor_start | kCursorDisable);
}

}  // namespace

void VgaWriter::set_present(bool present) {
    present_ = present;
    // The ports are touched only once the boot information has said that
    // the screen is in VGA text mode: with a framebuffer of pixels there
    // may be no VGA behind them at all.
    if (present_) {
        hide_hardware_cursor();
    }
}

void VgaWriter::put_char(char character) {
    if (!present_) {
        return;
    }
    if (character == '\n') {
        new_line();
        return;
    }
    // Wrap only when there is a character to put on the next row, so that a
    // line of exactly 80 characters and its newline take one row, not two.
    if (column_ == kColumns) {
        new_line();
    }
    text_buffer.cells[row_][column_] = cell(glyph_for(character), color_);
    ++column_;
}

void VgaWriter::clear() {
    if (!present_) {
        return;
    }
    for (size_t row = 0; row < kRows; ++row) {
        clear_row(row);
    }
    row_ = 0;
    column_ = 0;
}

void VgaWriter::new_line() {
    column_ = 0;
    if (row_ + 1 < kRows) {
        ++row_;
    } else {
        scroll_up();
    }
}

// Moves every row up by one: the top row is lost and the bottom row, where
// writing continues, is blank.
void VgaWriter::scroll_up() {
    for (size_t row = 1; row < kRows; ++row) {
        for (size_t column = 0; column < kColumns; ++column) {
            text_buffer.cells[row - 1][column] = text_buffer.cells[row][column];
        }
    }
    clear_row(kRows - 1);
}

// Blank in the current colour, so a new row has the background that the
// text written on it will have.
void VgaWriter::clear_row(size_t row) {
    for (size_t column = 0; column < kColumns; ++column) {
        text_buffer.cells[row][column] = cell(' ', color_);
    }
}
