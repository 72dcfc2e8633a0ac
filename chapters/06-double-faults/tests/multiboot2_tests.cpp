// Unit tests of the Multiboot2 boot information walker, on boot
// information built here by hand: the tests choose the tags, including the
// awkward ones a loader may pass.

#include <stdint.h>

#include "kernel_test.h"
#include "multiboot2.h"

namespace {

// A loader name tag of 13 bytes (8 of header, "GRUB\0"), padded to 16, and
// a command line tag after it: the walker must step over the padding.
struct alignas(8) InfoWithCommandLine {
    uint32_t total_size = sizeof(InfoWithCommandLine);
    uint32_t reserved = 0;
    uint32_t name_type = 2;
    uint32_t name_size = 13;
    char name[8] = "GRUB";
    uint32_t command_line_type = 1;
    uint32_t command_line_size = 8 + 16;
    char command_line[16] = "tests=vga_wrap";
    uint32_t end_type = 0;
    uint32_t end_size = 8;
};
static_assert(sizeof(InfoWithCommandLine) == 8 + 16 + 24 + 8);

struct alignas(8) InfoWithoutCommandLine {
    uint32_t total_size = sizeof(InfoWithoutCommandLine);
    uint32_t reserved = 0;
    uint32_t end_type = 0;
    uint32_t end_size = 8;
};

[[nodiscard]] uintptr_t address_of(const void* info) {
    return reinterpret_cast<uintptr_t>(info);
}

}  // namespace

KERNEL_TEST(multiboot2_finds_the_command_line_after_padding) {
    const InfoWithCommandLine info;
    const multiboot2::BootInformation boot_information(address_of(&info));
    EXPECT_EQ(boot_information.command_line(), "tests=vga_wrap");
}

KERNEL_TEST(multiboot2_without_command_line_gives_empty_text) {
    const InfoWithoutCommandLine info;
    const multiboot2::BootInformation boot_information(address_of(&info));
    EXPECT_EQ(boot_information.command_line(), "");
}

KERNEL_TEST(multiboot2_walk_visits_every_tag_until_the_end) {
    const InfoWithCommandLine info;
    size_t tags = 0;
    for ([[maybe_unused]] const multiboot2::Tag& tag :
         multiboot2::BootInformation(address_of(&info))) {
        ++tags;
    }
    EXPECT_EQ(tags, 2);
}
