// Unit tests of the test selection: how the kernel command line names the
// tests to run.

#include "kernel_test.h"
#include "test_selection.h"

KERNEL_TEST(selection_of_an_empty_command_line_selects_all) {
    const TestSelection selection("");
    EXPECT_TRUE(selection.problem() == nullptr);
    EXPECT_TRUE(selection.selects_all());
    EXPECT_TRUE(selection.includes("vga_long_line_wraps"));
}

KERNEL_TEST(selection_names_tests) {
    const TestSelection selection(" tests=format_zero,vga_long_line_wraps ");
    EXPECT_TRUE(selection.problem() == nullptr);
    EXPECT_FALSE(selection.selects_all());
    EXPECT_TRUE(selection.includes("format_zero"));
    EXPECT_TRUE(selection.includes("vga_long_line_wraps"));
    EXPECT_FALSE(selection.includes("format_uint64_max"));
}

namespace {

// Each mistake selects nothing, and names its word.
void expect_mistake(const char* command_line, const char* problem, const char* word) {
    const TestSelection selection(command_line);
    if (!EXPECT_TRUE(selection.problem() != nullptr)) {
        return;
    }
    EXPECT_EQ(selection.problem(), problem);
    EXPECT_TRUE(selection.offending_word().is(word));
    EXPECT_FALSE(selection.selects_all());
    EXPECT_FALSE(selection.includes("format_zero"));
}

}  // namespace

KERNEL_TEST(selection_rejects_other_words) {
    expect_mistake("quiet tests=format_zero", "unknown option", "quiet");
    expect_mistake("tests=format_zero debug=1", "unknown option", "debug=1");
}

// Reading stops at the first mistake: the word named is the one to fix first.
KERNEL_TEST(selection_names_the_first_mistake) {
    expect_mistake("quiet debug=1", "unknown option", "quiet");
}

KERNEL_TEST(selection_rejects_a_second_tests_option) {
    expect_mistake("tests=format_zero tests=vga_long_line_wraps",
                   "a second tests=", "tests=vga_long_line_wraps");
}

KERNEL_TEST(selection_rejects_an_empty_name) {
    expect_mistake("tests=", "an empty test name in", "tests=");
    expect_mistake("tests=format_zero,,vga_long_line_wraps", "an empty test name in",
                   "tests=format_zero,,vga_long_line_wraps");
    expect_mistake("tests=format_zero,", "an empty test name in", "tests=format_zero,");
}

KERNEL_TEST(selection_matches_whole_names_only) {
    const TestSelection selection("tests=format_zero");
    EXPECT_FALSE(selection.includes("format"));
    EXPECT_FALSE(selection.includes("format_zero_padding"));
    // Every character counts, the last one too.
    EXPECT_FALSE(TestSelection("tests=format_zerx").includes("format_zero"));
}

KERNEL_TEST(selection_option_must_start_a_word) {
    EXPECT_TRUE(TestSelection("mytests=format_zero").offending_word().is("mytests=format_zero"));
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
