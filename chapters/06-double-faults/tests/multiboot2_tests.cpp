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

// A command line tag whose string does not end inside it: read on, the
// text would run into the padding and the tags after it.
KERNEL_TEST(multiboot2_command_line_without_its_zero_gives_empty_text) {
    InfoWithCommandLine info;
    info.command_line_size = 8 + 4;  // "test", and no room for the rest
    EXPECT_EQ(multiboot2::BootInformation(address_of(&info)).command_line(), "");
    info.command_line_size = 8;  // not even a zero
    EXPECT_EQ(multiboot2::BootInformation(address_of(&info)).command_line(), "");
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

namespace {

// A loader's mistakes: the walk must end at them, not run on through memory
// that holds no tags. A command line tag stands after each mistake; finding
// it means the walk went too far.
struct alignas(8) InfoWithTooSmallTag {
    uint32_t total_size = sizeof(InfoWithTooSmallTag);
    uint32_t reserved = 0;
    uint32_t broken_type = 2;
    uint32_t broken_size = 0;  // would never move on
    uint32_t command_line_type = 1;
    uint32_t command_line_size = 8 + 8;
    char command_line[8] = "beyond";
    uint32_t end_type = 0;
    uint32_t end_size = 8;
};

// The same command line tag, but outside the block's total size.
struct alignas(8) InfoShorterThanItsTags {
    uint32_t total_size = 8 + 8;  // the header and the first tag only
    uint32_t reserved = 0;
    uint32_t name_type = 2;
    uint32_t name_size = 8;
    uint32_t command_line_type = 1;
    uint32_t command_line_size = 8 + 8;
    char command_line[8] = "beyond";
    uint32_t end_type = 0;
    uint32_t end_size = 8;
};

// A tag whose own size reaches past the block's end.
struct alignas(8) InfoWithOversizedTag {
    uint32_t total_size = sizeof(InfoWithOversizedTag);
    uint32_t reserved = 0;
    uint32_t command_line_type = 1;
    uint32_t command_line_size = 4096;
    char command_line[8] = "beyond";
    uint32_t end_type = 0;
    uint32_t end_size = 8;
};

template <typename Info>
[[nodiscard]] size_t tags_visited(const Info& info) {
    size_t tags = 0;
    for ([[maybe_unused]] const multiboot2::Tag& tag :
         multiboot2::BootInformation(address_of(&info))) {
        ++tags;
    }
    return tags;
}

}  // namespace

KERNEL_TEST(multiboot2_walk_stops_at_a_zero_size_tag) {
    const InfoWithTooSmallTag info;
    EXPECT_EQ(tags_visited(info), 0);
    EXPECT_EQ(multiboot2::BootInformation(address_of(&info)).command_line(), "");
}

// Any size below the tag's own 8-byte header is as wrong as 0: such a tag
// does not even hold itself, and nothing says where the next one starts.
KERNEL_TEST(multiboot2_walk_stops_at_a_tag_smaller_than_its_header) {
    InfoWithTooSmallTag info;
    info.broken_size = 4;
    EXPECT_EQ(tags_visited(info), 0);
    EXPECT_EQ(multiboot2::BootInformation(address_of(&info)).command_line(), "");
}

KERNEL_TEST(multiboot2_walk_stops_at_the_total_size) {
    const InfoShorterThanItsTags info;
    EXPECT_EQ(tags_visited(info), 1);
    EXPECT_EQ(multiboot2::BootInformation(address_of(&info)).command_line(), "");
}

KERNEL_TEST(multiboot2_walk_stops_at_a_tag_past_the_total_size) {
    const InfoWithOversizedTag info;
    EXPECT_EQ(tags_visited(info), 0);
}

// boot.asm maps the first 1 GiB only: boot information beyond it, or
// reaching beyond it, must not be read (the read would page-fault).
KERNEL_TEST(multiboot2_outside_the_identity_map_has_no_tags) {
    EXPECT_EQ(multiboot2::BootInformation(kIdentityMapEnd).command_line(), "");
    EXPECT_EQ(multiboot2::BootInformation(kIdentityMapEnd - 4).command_line(), "");
    EXPECT_EQ(multiboot2::BootInformation(uintptr_t{0x7fff'0000'0000}).command_line(), "");
}

KERNEL_TEST(multiboot2_block_reaching_past_the_identity_map_has_no_tags) {
    InfoWithCommandLine info;
    info.total_size = static_cast<uint32_t>(kIdentityMapEnd);  // from 1 MiB on: past 1 GiB
    EXPECT_EQ(multiboot2::BootInformation(address_of(&info)).command_line(), "");
}

namespace {

// Boot information whose only tag is a framebuffer tag: GRUB's under a BIOS
// by default, and the variations a UEFI boot or another loader gives.
struct alignas(8) InfoWithFramebuffer {
    uint32_t total_size = sizeof(InfoWithFramebuffer);
    uint32_t reserved = 0;
    multiboot2::FramebufferTag framebuffer{
        .tag = {multiboot2::TagType::framebuffer, sizeof(multiboot2::FramebufferTag)},
        .address = 0xb8000,
        .pitch = 160,
        .width = 80,
        .height = 25,
        .bits_per_pixel = 16,
        .type = multiboot2::FramebufferType::ega_text,
        .reserved = 0,
    };
    uint32_t end_type = 0;
    uint32_t end_size = 8;
};

[[nodiscard]] const char* why_no_vga_text_mode(const InfoWithFramebuffer& info) {
    return multiboot2::BootInformation(address_of(&info)).why_no_vga_text_mode();
}

}  // namespace

KERNEL_TEST(multiboot2_text_framebuffer_at_0xb8000_is_vga_text_mode) {
    const InfoWithFramebuffer info;
    EXPECT_EQ(why_no_vga_text_mode(info), static_cast<const char*>(nullptr));
}

// The fields a tag too short for them would be read from belong to the
// next tag (here the end tag), or to no tag at all.
KERNEL_TEST(multiboot2_framebuffer_tag_too_short_for_its_fields_is_no_screen) {
    InfoWithFramebuffer info;
    info.framebuffer.tag.size = 16;
    EXPECT_EQ(why_no_vga_text_mode(info), "the boot loader describes no screen at all.");
}

KERNEL_TEST(multiboot2_pixel_framebuffer_is_no_text_mode) {
    InfoWithFramebuffer info;
    info.framebuffer.type = multiboot2::FramebufferType::rgb;
    info.framebuffer.address = 0x80000000;
    EXPECT_EQ(why_no_vga_text_mode(info),
              "the screen is a framebuffer of pixels, as UEFI leaves it.");
}

KERNEL_TEST(multiboot2_text_mode_of_another_size_is_not_the_one_written_to) {
    InfoWithFramebuffer info;
    info.framebuffer.height = 50;
    EXPECT_EQ(why_no_vga_text_mode(info), "the text mode is not 80x25 at 0xb8000.");
}

// The writer puts row r at 0xb8000 + 160 r: any other width, distance
// between rows or address is another screen than the one it writes to.
KERNEL_TEST(multiboot2_text_mode_of_another_layout_is_not_the_one_written_to) {
    InfoWithFramebuffer wider;
    wider.framebuffer.width = 132;
    wider.framebuffer.pitch = 264;
    InfoWithFramebuffer padded;  // 80 columns, but rows 256 bytes apart
    padded.framebuffer.pitch = 256;
    InfoWithFramebuffer monochrome;  // the monochrome adapter's buffer
    monochrome.framebuffer.address = 0xb0000;
    const InfoWithFramebuffer* const layouts[] = {&wider, &padded, &monochrome};
    for (const InfoWithFramebuffer* info : layouts) {
        EXPECT_EQ(why_no_vga_text_mode(*info), "the text mode is not 80x25 at 0xb8000.");
    }
}

KERNEL_TEST(multiboot2_without_framebuffer_tag_there_is_no_known_screen) {
    const InfoWithoutCommandLine info;
    EXPECT_EQ(multiboot2::BootInformation(address_of(&info)).why_no_vga_text_mode(),
              "the boot loader describes no screen at all.");
}
