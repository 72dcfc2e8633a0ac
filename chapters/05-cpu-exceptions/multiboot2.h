#pragma once

// Reading the boot information a Multiboot2 loader hands the kernel: a
// block of memory, whose address arrives in EBX, holding a list of tags
// (memory map, command line, loader name, ...). This chapter needs three:
// the command line, through which GRUB passes the words that follow the
// kernel path on grub.cfg's multiboot2 line; the framebuffer tag, through
// which the loader says what the screen is (VGA text mode under a BIOS, and
// under UEFI, which has no text mode, a framebuffer of pixels or nothing);
// and the ELF sections, through which it passes the kernel's symbol table
// (kernel_symbols.h).

#include <stddef.h>
#include <stdint.h>

#include "identity_map.h"

namespace multiboot2 {

// The tag types this kernel looks at. The list holds many others (memory
// map, loader name, ...), which a walk simply steps over.
enum class TagType : uint32_t {
    end = 0,
    command_line = 1,
    framebuffer = 8,
    elf_sections = 9,
};

// The block starts with its total size, then the tags follow.
struct InfoHeader {
    uint32_t total_size;
    uint32_t reserved;
};
static_assert(sizeof(InfoHeader) == 8);

// Every tag starts with its type and its size in bytes (this header
// included, the padding after it excluded); its contents follow.
struct Tag {
    TagType type;
    uint32_t size;
};
static_assert(sizeof(Tag) == 8);

enum class FramebufferType : uint8_t {
    indexed = 0,   // pixels, each an index into a palette
    rgb = 1,       // pixels, each its own red, green and blue
    ega_text = 2,  // characters and colours, two bytes a cell: VGA text mode
};

// The framebuffer tag's common part (a palette or the colour layout of a
// pixel follows it). In text mode, width and height count characters and
// the pitch is the bytes of one row.
struct FramebufferTag {
    Tag tag;
    uint64_t address;
    uint32_t pitch;
    uint32_t width;
    uint32_t height;
    uint8_t bits_per_pixel;
    FramebufferType type;
    uint16_t reserved;
};
static_assert(sizeof(FramebufferTag) == 32);
static_assert(offsetof(FramebufferTag, address) == 8 && offsetof(FramebufferTag, pitch) == 16 &&
              offsetof(FramebufferTag, bits_per_pixel) == 28 &&
              offsetof(FramebufferTag, type) == 29);

// The list ends with a tag of type end rather than at a known address, so
// the end of a walk is a marker, not a position.
struct EndOfTags {};

// Steps through the tags, for use in a range-based for loop. The walk ends
// at the end tag, and also where the list is broken: at a tag smaller than
// its own header (a size of zero would never move on) or one that reaches
// past the block's total size. A loader's mistake then ends the list
// instead of sending the kernel through memory that holds no tags.
class TagIterator {
  public:
    constexpr TagIterator(const Tag* tag, uintptr_t block_end) : tag_(tag), block_end_(block_end) {}

    [[nodiscard]] const Tag& operator*() const { return *tag_; }
    TagIterator& operator++();
    [[nodiscard]] bool operator!=(EndOfTags) const;

  private:
    const Tag* tag_;
    uintptr_t block_end_;  // just past the block, by its total size
};

class BootInformation {
  public:
    // address is the value that was in EBX when the loader jumped to the
    // kernel. It must point to memory that is still intact. A block that
    // does not lie wholly inside the identity map (identity_map.h) is not
    // read at all: it has no tags.
    explicit BootInformation(uintptr_t address);

    [[nodiscard]] TagIterator begin() const {
        return TagIterator(reinterpret_cast<const Tag*>(header_ + 1), block_end_);
    }
    [[nodiscard]] EndOfTags end() const { return {}; }

    // The kernel's command line, or "" when the loader passed none.
    [[nodiscard]] const char* command_line() const;

    // The framebuffer tag, or nullptr when the loader passed none, or one
    // too short to hold its fields.
    [[nodiscard]] const FramebufferTag* framebuffer() const;

    // nullptr when the screen is in the VGA text mode this kernel writes
    // to, 80 columns by 25 rows of two-byte cells at 0xb8000; otherwise
    // why not, in words, for a kernel that must say why it shows nothing.
    [[nodiscard]] const char* why_no_vga_text_mode() const;

  private:
    const InfoHeader* header_;
    uintptr_t block_end_;  // as far as the tags may be read
};

}  // namespace multiboot2
