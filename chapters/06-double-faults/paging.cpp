#include "paging.h"

#include "panic.h"

namespace {

PageTable& table_at(uint64_t physical_address) {
    return *reinterpret_cast<PageTable*>(physical_address);
}

// The table an upper-level entry points to. The boot code builds every
// level above the page directory with table entries, never huge pages.
PageTable& next_table(const PageTableEntry& entry, uint64_t address) {
    if (!entry.has(PageBits::Present) || entry.has(PageBits::Huge)) {
        panic("no page table on the way to {:016x}: entry {:016x}", address, entry.bits());
    }
    return table_at(entry.address());
}

uint64_t read_cr3() {
    uint64_t value;
    asm volatile("mov %%cr3, %0" : "=r"(value));
    return value;
}

}  // namespace

PageTableEntry& page_directory_entry(uint64_t address) {
    PageTable& pml4 = table_at(read_cr3() & page_bits(PageBits::Address));
    PageTable& pointer_table = next_table(pml4.entry_for(address, PageTableLevel::Pml4), address);
    PageTable& directory = next_table(
        pointer_table.entry_for(address, PageTableLevel::PageDirectoryPointerTable), address);
    return directory.entry_for(address, PageTableLevel::PageDirectory);
}

bool is_mapped(uint64_t address) {
    const PageTableEntry& directory_entry = page_directory_entry(address);
    if (!directory_entry.has(PageBits::Present) || directory_entry.has(PageBits::Huge)) {
        return directory_entry.has(PageBits::Present);
    }
    return table_at(directory_entry.address())
        .entry_for(address, PageTableLevel::PageTable)
        .has(PageBits::Present);
}

void split_huge_page(PageTableEntry& directory_entry, PageTable& table) {
    if (!directory_entry.has(PageBits::Present) || !directory_entry.has(PageBits::Huge)) {
        panic("page directory entry {:016x} maps no 2 MiB page", directory_entry.bits());
    }
    using enum PageBits;
    const uint64_t huge = directory_entry.bits();

    // Apart from the address, every bit means the same in both kinds of
    // entry, except the two whose places differ: Huge and PAT.
    const uint64_t moved_attribute_table =
        (huge & page_bits(HugePageAttributeTable)) != 0 ? page_bits(SmallPageAttributeTable) : 0;
    const uint64_t small_page_bits = (huge & ~page_bits(Address, Huge)) | moved_attribute_table;
    const uint64_t first_page = huge & page_bits(HugePageAddress);
    for (size_t i = 0; i < kEntriesPerTable; ++i) {
        table.entries[i] = PageTableEntry{(first_page + i * kPageSize) | small_page_bits};
    }

    // The CPU combines the rights of every level of a walk: a page is
    // writable only if each entry on the way says so. Giving the directory
    // entry the huge page's rights leaves the result unchanged.
    const uint64_t rights = huge & page_bits(Present, Writable, UserAccessible);
    directory_entry = PageTableEntry{reinterpret_cast<uint64_t>(&table) | rights};
}
