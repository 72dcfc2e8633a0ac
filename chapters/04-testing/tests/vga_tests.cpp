// Unit tests of chapter 3's VGA text writer, checked against the text
// buffer itself: what the hardware shows is what counts.

#include "kernel_test.h"
#include "print.h"
#include "screen.h"
#include "text_sink.h"

namespace {

constexpr ColorCode kYellowOnBlue{Color::Yellow, Color::Blue};

}  // namespace

KERNEL_TEST_ON_SCREEN(vga_text_lands_in_the_buffer) {
    clear_screen();
    print("Hello");
    EXPECT_TRUE(screen_row_starts_with(0, "Hello "));
    EXPECT_EQ(screen_attribute(0, 0), kDefaultTextColor.value());
    EXPECT_TRUE(screen_row_is_blank(1));
}

KERNEL_TEST_ON_SCREEN(vga_color_goes_into_the_attribute) {
    clear_screen();
    set_text_color(kYellowOnBlue);
    print("c");
    set_text_color(kDefaultTextColor);
    print("d");
    EXPECT_EQ(screen_cell(0, 0), 0x1e00 | 'c');
    EXPECT_EQ(screen_attribute(0, 1), kDefaultTextColor.value());
}

// Every row, the last one too, and in the colour of the moment, so that
// text written afterwards sits on its own background.
KERNEL_TEST_ON_SCREEN(vga_clear_blanks_every_cell_in_the_current_color) {
    clear_screen();
    for (size_t row = 0; row + 1 < VgaWriter::kRows; ++row) {
        println("");
    }
    print("on the last row");
    EXPECT_TRUE(screen_row_starts_with(VgaWriter::kRows - 1, "on the last row"));
    set_text_color(kYellowOnBlue);
    clear_screen();
    set_text_color(kDefaultTextColor);
    EXPECT_TRUE(screen_row_is_blank(VgaWriter::kRows - 1));
    size_t cells_in_other_colors = 0;
    for (size_t row = 0; row < VgaWriter::kRows; ++row) {
        for (size_t column = 0; column < VgaWriter::kColumns; ++column) {
            cells_in_other_colors += screen_attribute(row, column) != kYellowOnBlue.value() ? 1 : 0;
        }
    }
    EXPECT_EQ(cells_in_other_colors, 0u);
}

KERNEL_TEST_ON_SCREEN(vga_newline_starts_the_next_row) {
    clear_screen();
    print("a\nb");
    EXPECT_EQ(screen_character(0, 0), 'a');
    EXPECT_EQ(screen_character(0, 1), ' ');
    EXPECT_EQ(screen_character(1, 0), 'b');
}

KERNEL_TEST_ON_SCREEN(vga_long_line_wraps) {
    clear_screen();
    for (size_t column = 0; column < VgaWriter::kColumns; ++column) {
        print("{}", static_cast<char>('a' + column % 26));
    }
    // A line of exactly 80 characters and its newline take one row.
    println("");
    print("{}", "wrapped: the next row");
    EXPECT_EQ(screen_character(0, 79), 'b');  // 79 % 26 == 1
    EXPECT_TRUE(screen_row_starts_with(1, "wrapped: the next row"));
    EXPECT_TRUE(screen_row_is_blank(2));
}

KERNEL_TEST_ON_SCREEN(vga_character_past_the_last_column_wraps) {
    clear_screen();
    for (size_t column = 0; column <= VgaWriter::kColumns; ++column) {
        print("x");
    }
    EXPECT_EQ(screen_character(0, 79), 'x');
    EXPECT_EQ(screen_character(1, 0), 'x');
    EXPECT_EQ(screen_character(1, 1), ' ');
}

KERNEL_TEST_ON_SCREEN(vga_scroll_keeps_the_last_rows) {
    clear_screen();
    constexpr size_t kLines = 30;
    for (size_t line = 0; line < kLines; ++line) {
        println("line {}", line);
    }
    // The last newline scrolled once more: 24 rows of text, then the blank
    // row the cursor is on.
    for (size_t row = 0; row + 1 < VgaWriter::kRows; ++row) {
        TextSink expected;
        format_to(expected, "line {} ", kLines - (VgaWriter::kRows - 1) + row);
        EXPECT_TRUE(screen_row_starts_with(row, expected.text()));
    }
    EXPECT_TRUE(screen_row_is_blank(VgaWriter::kRows - 1));
}

KERNEL_TEST_ON_SCREEN(vga_unprintable_bytes_show_as_a_block) {
    clear_screen();
    print("\x01\t\x7f\xc3");
    for (size_t column = 0; column < 4; ++column) {
        EXPECT_EQ(screen_character(0, column), '\xfe');
    }
}

// Under UEFI there is no text mode and 0xb8000 may be anything: the writer
// leaves it alone until the boot information says the screen is there.
// Played here on a real screen by saying it is not, for a moment. A panic
// writes through the same writer (screen_for_panic), so it too leaves the
// memory alone.
KERNEL_TEST_ON_SCREEN(vga_writes_nothing_while_the_screen_is_not_present) {
    clear_screen();
    set_screen_present(false);
    println("not for the screen");
    clear_screen();
    print("nor this");
    set_screen_present(true);
    EXPECT_TRUE(screen_row_is_blank(0));
    EXPECT_TRUE(screen_row_is_blank(1));
}
