#include "kernel_stack.h"

#include "paging.h"

// Labels in boot.asm: only their addresses mean something.
extern "C" uint8_t stack_guard_page[];
extern "C" uint8_t stack_bottom[];
extern "C" uint8_t stack_top[];

namespace {

// The boot code maps memory in 2 MiB pages; this table takes over the one
// that holds the guard page, so that 4 KiB of it can be unmapped alone.
PageTable guard_page_table;

}  // namespace

AddressRange kernel_stack() {
    return {reinterpret_cast<uintptr_t>(stack_bottom), reinterpret_cast<uintptr_t>(stack_top)};
}

AddressRange kernel_stack_guard_page() {
    return {reinterpret_cast<uintptr_t>(stack_guard_page),
            reinterpret_cast<uintptr_t>(stack_bottom)};
}

void install_kernel_stack_guard_page() {
    const uint64_t guard_page = kernel_stack_guard_page().begin;
    split_huge_page(page_directory_entry(guard_page), guard_page_table);
    guard_page_table.entry_for(guard_page, PageTableLevel::PageTable) = PageTableEntry{};
    // The TLB may still hold the 2 MiB translation that covered the guard
    // page; until it is gone, the CPU would go on using it.
    invalidate_tlb_entry(guard_page);
}
