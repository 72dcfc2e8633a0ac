#pragma once

// What the tests see of the screen: the VGA text buffer read back, cell by
// cell, as the hardware shows it.

#include <stddef.h>
#include <stdint.h>

#include "vga.h"

// The cell at a row and column: the character in the low byte and the
// colour attribute in the high byte.
[[nodiscard]] inline uint16_t screen_cell(size_t row, size_t column) {
    const auto* cells = reinterpret_cast<const volatile uint16_t*>(0xb8000);
    return cells[row * VgaWriter::kColumns + column];
}

[[nodiscard]] inline char screen_character(size_t row, size_t column) {
    return static_cast<char>(screen_cell(row, column) & 0xff);
}

[[nodiscard]] inline uint8_t screen_attribute(size_t row, size_t column) {
    return static_cast<uint8_t>(screen_cell(row, column) >> 8);
}

// Whether a row starts with `text` (its remaining cells are not looked at).
[[nodiscard]] inline bool screen_row_starts_with(size_t row, const char* text) {
    for (size_t column = 0; text[column] != '\0'; ++column) {
        if (column == VgaWriter::kColumns || screen_character(row, column) != text[column]) {
            return false;
        }
    }
    return true;
}

// Whether every cell of a row is a space.
[[nodiscard]] inline bool screen_row_is_blank(size_t row) {
    for (size_t column = 0; column < VgaWriter::kColumns; ++column) {
        if (screen_character(row, column) != ' ') {
            return false;
        }
    }
    return true;
}
