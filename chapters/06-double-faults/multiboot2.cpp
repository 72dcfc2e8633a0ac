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

}  // namespace

TagIterator& TagIterator::operator++() {
    const auto* next = reinterpret_cast<const uint8_t*>(tag_) + align_up(tag_->size);
    tag_ = reinterpret_cast<const Tag*>(next);
    return *this;
}

const char* BootInformation::command_line() const {
    for (const Tag& tag : *this) {
        if (tag.type == TagType::command_line) {
            // A zero-terminated string fills the rest of the tag.
            return reinterpret_cast<const char*>(&tag + 1);
        }
    }
    return "";
}

}  // namespace multiboot2
