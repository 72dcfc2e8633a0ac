#pragma once

// The page tables of x86-64's four-level paging (SDM vol. 3, 4.5), as far as
// this kernel changes them.
//
// A 48-bit virtual address is four 9-bit table indices and a 12-bit offset.
// CR3 points to the PML4; each level's entry points to the next table, down
// to a page table entry that maps a 4 KiB page. A page directory entry with
// the huge flag maps a whole 2 MiB page itself instead: that is how the boot
// code maps the first GiB, and why a single 4 KiB page cannot be unmapped
// until its 2 MiB page is split into 512 small ones.

#include <stddef.h>
#include <stdint.h>

constexpr uint64_t kPageSize = 4096;
constexpr size_t kEntriesPerTable = 512;

enum class PageTableLevel : uint8_t {
    PageTable = 0,  // its entries map 4 KiB pages
    PageDirectory = 1,
    PageDirectoryPointerTable = 2,
    Pml4 = 3,
};

// The index of the entry that translates address in a table of the level.
constexpr size_t table_index(uint64_t address, PageTableLevel level) {
    return (address >> (12 + 9 * static_cast<unsigned>(level))) % kEntriesPerTable;
}
static_assert(table_index(0x0000'7fff'ffff'f000, PageTableLevel::Pml4) == 255);
static_assert(table_index(0x0000'0000'0030'0000, PageTableLevel::PageDirectory) == 1);
static_assert(table_index(0x0000'0000'0030'5000, PageTableLevel::PageTable) == 0x105);

// The bits of an entry that this kernel names (SDM vol. 3, 4.5, the tables
// of entry formats). Bits 12-51 hold a physical address, of a page or of
// the next table.
enum class PageBits : uint64_t {
    Present = uint64_t{1} << 0,
    Writable = uint64_t{1} << 1,
    UserAccessible = uint64_t{1} << 2,
    // In a page directory entry: maps a 2 MiB page rather than a table.
    Huge = uint64_t{1} << 7,
    // Part of a page's memory type. A 4 KiB page keeps it where a directory
    // entry keeps Huge; a 2 MiB page moves it to bit 12, the lowest address
    // bit it does not need.
    SmallPageAttributeTable = uint64_t{1} << 7,
    HugePageAttributeTable = uint64_t{1} << 12,
    Address = 0x000f'ffff'ffff'f000,
    HugePageAddress = 0x000f'ffff'ffe0'0000,
};

template <typename... Bits>
constexpr uint64_t page_bits(Bits... bits) {
    return (static_cast<uint64_t>(bits) | ...);
}

class PageTableEntry {
  public:
    // A not-present entry: every access through it raises a page fault.
    constexpr PageTableEntry() = default;
    constexpr explicit PageTableEntry(uint64_t bits) : bits_(bits) {}

    [[nodiscard]] constexpr uint64_t bits() const { return bits_; }
    [[nodiscard]] constexpr bool has(PageBits flag) const {
        return (bits_ & static_cast<uint64_t>(flag)) != 0;
    }
    [[nodiscard]] constexpr uint64_t address() const {
        return bits_ & page_bits(PageBits::Address);
    }

  private:
    uint64_t bits_ = 0;
};
static_assert(sizeof(PageTableEntry) == 8);

// A table of any level: 512 entries filling one page, which must be 4 KiB
// aligned because entries and CR3 keep flags in the low 12 address bits.
struct alignas(kPageSize) PageTable {
    PageTableEntry entries[kEntriesPerTable];

    PageTableEntry& entry_for(uint64_t address, PageTableLevel level) {
        return entries[table_index(address, level)];
    }
};
static_assert(sizeof(PageTable) == kPageSize);

// The page directory entry that translates address in the active tables
// (CR3's), which boot.asm built with table entries down to that level.
[[nodiscard]] PageTableEntry& page_directory_entry(uint64_t address);

// Whether an access to address would find a page, for addresses in the
// part of memory the page directories cover (the first GiB).
[[nodiscard]] bool is_mapped(uint64_t address);

// How many 2 MiB pages unmap_page can split: room for the two guard pages
// this kernel makes, in case they lie in different 2 MiB pages. The kernel
// has no memory allocator yet, so the tables are a pool in .bss.
inline constexpr size_t kSplitTables = 2;

// Unmaps the 4 KiB page at address, so that every access to it raises a
// page fault: what makes a guard page. If a 2 MiB page still maps it, that
// is split first, into a table from the pool; with none left, it panics.
void unmap_page(uint64_t address);
