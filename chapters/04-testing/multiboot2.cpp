#include "multiboot2.h"

namespace multiboot2 {

namespace {

// Tags start at 8-byte boundaries: a tag whose size is not a multiple of 8
// is followed by padding.
constexpr uint32_t kTagAlignment = 8;

constexpr uint32_t align_up(uint32_t size) {
    return (size + kTagAlignment - 1) & ~(kTagAlignment - 1);
}
static_assert(align_up(8) == 8 && align_up(9) == 16 && align_up(17) == 24);

constexpr uint64_t kVgaTextBuffer = 0xb8000;
constexpr uint32_t kVgaTextColumns = 80;
constexpr uint32_t kVgaTextRows = 25;
constexpr uint32_t kVgaCellBytes = 2;

}  // namespace

TagIterator& TagIterator::operator++() {
    const auto* next = reinterpret_cast<const uint8_t*>(tag_) + align_up(tag_->size);
    tag_ = reinterpret_cast<const Tag*>(next);
    return *this;
}

bool TagIterator::operator!=(EndOfTags) const {
    const auto start = reinterpret_cast<uintptr_t>(tag_);
    if (start >= block_end_ || block_end_ - start < sizeof(Tag)) {
        return false;
    }
    return tag_->type != TagType::end && tag_->size >= sizeof(Tag) &&
           tag_->size <= block_end_ - start;
}

BootInformation::BootInformation(uintptr_t address)
    : header_(reinterpret_cast<const InfoHeader*>(address)), block_end_(address) {
    // The size is read only once the header is known to be readable.
    if (is_identity_mapped(address, sizeof(InfoHeader)) &&
        is_identity_mapped(address, header_->total_size)) {
        block_end_ = address + header_->total_size;
    }
}

const char* BootInformation::command_line() const {
    for (const Tag& tag : *this) {
        if (tag.type == TagType::command_line) {
            // A zero-terminated string fills the rest of the tag. One whose
            // zero is not inside the tag would be read on into whatever
            // follows it: such a tag gives no command line.
            const char* text = reinterpret_cast<const char*>(&tag + 1);
            for (uint32_t i = 0; i < tag.size - sizeof(Tag); ++i) {
                if (text[i] == '\0') {
                    return text;
                }
            }
            return "";
        }
    }
    return "";
}

const FramebufferTag* BootInformation::framebuffer() const {
    for (const Tag& tag : *this) {
        // A tag too short for the fields describes no screen: what lies
        // where they would be belongs to whatever follows it.
        if (tag.type == TagType::framebuffer && tag.size >= sizeof(FramebufferTag)) {
            return reinterpret_cast<const FramebufferTag*>(&tag);
        }
    }
    return nullptr;
}

const char* BootInformation::why_no_vga_text_mode() const {
    // GRUB describes the BIOS's text mode with this tag too. No tag at all
    // says nothing about the screen, and writing to 0xb8000 on a guess
    // would write to whatever is there.
    const FramebufferTag* tag = framebuffer();
    if (tag == nullptr) {
        return "the boot loader describes no screen at all.";
    }
    if (tag->type != FramebufferType::ega_text) {
        return "the screen is a framebuffer of pixels, as UEFI leaves it.";
    }
    if (tag->address != kVgaTextBuffer || tag->width != kVgaTextColumns ||
        tag->height != kVgaTextRows || tag->pitch != kVgaTextColumns * kVgaCellBytes) {
        return "the text mode is not 80x25 at 0xb8000.";
    }
    return nullptr;
}

}  // namespace multiboot2
