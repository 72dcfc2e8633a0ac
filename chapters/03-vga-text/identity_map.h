#pragma once

// What the kernel can read: boot.asm identity-maps the first 1 GiB of
// physical memory (virtual address = physical address) and nothing else.
// Data the loader placed above that, the boot information or the symbol
// tables it passes, would fault on the first read, so it is checked
// against this extent before use.

#include <stdint.h>

inline constexpr uint64_t kIdentityMapEnd = uint64_t{1} << 30;

// Whether all `size` bytes from `start` lie inside the identity map.
[[nodiscard]] constexpr bool is_identity_mapped(uint64_t start, uint64_t size) {
    return start <= kIdentityMapEnd && size <= kIdentityMapEnd - start;
}
static_assert(is_identity_mapped(0, kIdentityMapEnd) &&
              !is_identity_mapped(kIdentityMapEnd - 8, 16));
