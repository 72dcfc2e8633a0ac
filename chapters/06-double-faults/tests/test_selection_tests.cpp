// Unit tests of the test selection: how the kernel command line names the
// tests to run.

#include "kernel_test.h"
#include "test_selection.h"

KERNEL_TEST(selection_without_tests_option_selects_all) {
    const TestSelection selection("quiet debug=1");
    EXPECT_TRUE(selection.selects_all());
    EXPECT_TRUE(selection.includes("vga_long_line_wraps"));
}

KERNEL_TEST(selection_names_tests_among_other_words) {
    const TestSelection selection("quiet tests=format_zero,vga_long_line_wraps debug=1");
    EXPECT_FALSE(selection.selects_all());
    EXPECT_TRUE(selection.includes("format_zero"));
    EXPECT_TRUE(selection.includes("vga_long_line_wraps"));
    EXPECT_FALSE(selection.includes("debug=1"));
    EXPECT_FALSE(selection.includes("quiet"));
}

KERNEL_TEST(selection_matches_whole_names_only) {
    const TestSelection selection("tests=format_zero");
    EXPECT_FALSE(selection.includes("format"));
    EXPECT_FALSE(selection.includes("format_zero_padding"));
}

KERNEL_TEST(selection_option_must_start_a_word) {
    EXPECT_TRUE(TestSelection("mytests=format_zero").selects_all());
}

KERNEL_TEST(selection_lists_each_name) {
    size_t count = 0;
    size_t last_length = 0;
    TestSelection("tests=a,bcd").for_each_name([&](ListedName listed) {
        ++count;
        last_length = listed.length();
    });
    EXPECT_EQ(count, 2);
    EXPECT_EQ(last_length, 3);
}
