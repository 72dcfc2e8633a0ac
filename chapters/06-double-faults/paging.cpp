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

// Stores an entry that makes the CPU use other memory (a new table) only
// after everything before it in the program is stored. The CPU's page walk
// reads memory behind the compiler's back: as far as C++ can tell, nothing
// reads the new table's entries, so the compiler may move their stores past
// the store of the entry that points to the table, and the
// walk of an access in between would find a half-filled table. The "memory"
// clobber forbids moving any store across it, and the volatile store is made
// once, whole and where it stands. (x86 itself keeps stores in program
// order, SDM vol. 3, 9.2.2, so no fence instruction is needed.)
void publish_entry(PageTableEntry& entry, PageTableEntry value) {
    asm volatile("" : : : "memory");
    *reinterpret_cast<volatile uint64_t*>(&entry) = value.bits();
}

// The tables that unmap_page splits 2 MiB pages into, and how many it used.
PageTable split_tables[kSplitTables];
size_t split_tables_used = 0;

// Makes a page directory entry that maps a 2 MiB page point to table
// instead, filled with 512 entries that map the same memory with the same
// rights in 4 KiB pages. A 2 MiB translation the TLB still holds stays
// right; whoever then changes one of the small entries must flush it.
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
    publish_entry(directory_entry, PageTableEntry{reinterpret_cast<uint64_t>(&table) | rights});
}

// Removes the TLB's copy of the translation of address, whatever the size
// of its page, so that the CPU walks the tables again on the next access
// (SDM vol. 3, 4.10.4.1).
void invalidate_tlb_entry(uint64_t address) {
    asm volatile("invlpg (%0)" : : "r"(address) : "memory");
}

}  // namespace

// The kernel runs identity-mapped, so the physical addresses in CR3 and the
// entries can be used as pointers.
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

void unmap_page(uint64_t address) {
    PageTableEntry& directory_entry = page_directory_entry(address);
    if (directory_entry.has(PageBits::Huge)) {
        if (split_tables_used == kSplitTables) {
            panic("no page table left to split the 2 MiB page of {:016x}", address);
        }
        split_huge_page(directory_entry, split_tables[split_tables_used++]);
    }
    publish_entry(
        next_table(directory_entry, address).entry_for(address, PageTableLevel::PageTable),
        PageTableEntry{});
    // The TLB may still hold the translation that covered the page, 2 MiB
    // or 4 KiB; until it is gone, the CPU would go on using it.
    invalidate_tlb_entry(address);
}
