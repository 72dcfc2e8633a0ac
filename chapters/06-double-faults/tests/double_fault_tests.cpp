// Integration tests of chapter 6: the GDT and TSS the kernel loaded, the
// guard pages below the kernel stack and the double fault stack, the cause
// a double fault's report names for each address in and around them, and
// a stack overflow that ends in a double fault on the double fault stack.
// The double fault is caught and the test goes on
// (tests/expect_exception.h); its report goes to serial, where the harness
// checks it (harness/test_06_double_faults.py).

#include <stddef.h>
#include <stdint.h>

#include "double_fault.h"
#include "exceptions.h"
#include "expect_exception.h"
#include "gdt.h"
#include "kernel_stack.h"
#include "kernel_symbols.h"
#include "kernel_test.h"
#include "paging.h"
#include "serial_console.h"
#include "stack_overflow.h"
#include "text_sink.h"
#include "tss.h"

namespace {

DescriptorTablePointer stored_gdtr() {
    DescriptorTablePointer gdtr;
    asm volatile("sgdt %0" : "=m"(gdtr));
    return gdtr;
}

DescriptorTablePointer stored_idtr() {
    DescriptorTablePointer idtr;
    asm volatile("sidt %0" : "=m"(idtr));
    return idtr;
}

// What the CPU uses now, read back from the CPU rather than from the
// kernel's variables.
const GlobalDescriptorTable& loaded_gdt() {
    return *reinterpret_cast<const GlobalDescriptorTable*>(stored_gdtr().base);
}

const TaskStateSegment& loaded_task_state_segment() {
    const TaskStateSegmentDescriptor& descriptor = loaded_gdt().task_state_segment;
    const uint64_t low = descriptor.low.bits();
    const uint64_t base =
        (low >> 16 & 0xff'ffff) | (low >> 56 & 0xff) << 24 | uint64_t{descriptor.base_upper} << 32;
    return *reinterpret_cast<const TaskStateSegment*>(base);
}

uint16_t code_segment_register() {
    uint16_t selector;
    asm volatile("mov %%cs, %0" : "=r"(selector));
    return selector;
}

uint16_t task_register() {
    uint16_t selector;
    asm volatile("str %0" : "=r"(selector));
    return selector;
}

// Whole pages right below the stack, unmapped, while the page below them
// and the stack's own pages stay mapped.
void expect_guard_pages_below(AddressRange stack, AddressRange guard, uint64_t pages) {
    EXPECT_EQ(guard.end - guard.begin, pages * kPageSize);
    EXPECT_EQ(guard.end, stack.begin);
    EXPECT_EQ(guard.begin % kPageSize, 0);
    for (uintptr_t page = guard.begin; page < guard.end; page += kPageSize) {
        EXPECT_FALSE(is_mapped(page));
    }
    EXPECT_TRUE(is_mapped(guard.begin - 1));
    EXPECT_TRUE(is_mapped(stack.begin));
    EXPECT_TRUE(is_mapped(stack.end - 1));
}

}  // namespace

KERNEL_TEST(double_fault_gdt_is_the_kernels) {
    const DescriptorTablePointer gdtr = stored_gdtr();
    EXPECT_EQ(gdtr.limit, sizeof(GlobalDescriptorTable) - 1);
    const GlobalDescriptorTable& gdt = loaded_gdt();
    EXPECT_EQ(gdt.null.bits(), 0);
    EXPECT_EQ(gdt.kernel_code.bits(), SegmentDescriptor::kernel_code().bits());
    EXPECT_EQ(code_segment_register(), kKernelCodeSelector);
}

KERNEL_TEST(double_fault_task_register_holds_the_tss) {
    EXPECT_EQ(task_register(), kTaskStateSegmentSelector);
    // LTR marked the TSS busy: type 0b1011 in bits 40-43.
    const uint64_t descriptor = loaded_gdt().task_state_segment.low.bits();
    EXPECT_EQ(descriptor >> 40 & 0xf, 0b1011);
    EXPECT_EQ(descriptor >> 44 & 1, 0);     // S clear: a system descriptor
    EXPECT_EQ(descriptor >> 45 & 0b11, 0);  // DPL 0
    EXPECT_EQ(descriptor >> 47 & 1, 1);     // present
    EXPECT_EQ(descriptor >> 55 & 1, 0);     // G clear: the limit counts bytes
    // The limit, bits 0-15 and 48-51: the last byte of the TSS.
    EXPECT_EQ((descriptor & 0xffff) | (descriptor >> 48 & 0xf) << 16, sizeof(TaskStateSegment) - 1);
    EXPECT_EQ(loaded_gdt().task_state_segment.reserved, 0);
}

// The base, spread over three fields of the descriptor and the upper half,
// is the kernel's TSS. (initialize_task_state_segment returns it, filling
// in the same two fields again.)
KERNEL_TEST(double_fault_tss_descriptor_points_at_the_kernels_tss) {
    EXPECT_EQ(reinterpret_cast<uint64_t>(&loaded_task_state_segment()),
              reinterpret_cast<uint64_t>(&initialize_task_state_segment()));
}

KERNEL_TEST(double_fault_ist1_is_the_top_of_the_double_fault_stack) {
    const TaskStateSegment& tss = loaded_task_state_segment();
    const uint64_t ist1 = tss.interrupt_stack_table[0];
    EXPECT_EQ(ist1, double_fault_stack().end);
    EXPECT_EQ(ist1 % 16, 0);
    EXPECT_TRUE(double_fault_stack().end - double_fault_stack().begin >= 4096);
    EXPECT_EQ(tss.io_map_base, sizeof(TaskStateSegment));
}

KERNEL_TEST(double_fault_gate_switches_to_ist1) {
    const auto* gates = reinterpret_cast<const GateDescriptor*>(stored_idtr().base);
    EXPECT_EQ(gates[static_cast<uint8_t>(ExceptionVector::DoubleFault)].interrupt_stack, 1);
    // A page fault stays on the stack it came from.
    EXPECT_EQ(gates[static_cast<uint8_t>(ExceptionVector::PageFault)].interrupt_stack, 0);
}

KERNEL_TEST(double_fault_guard_page_is_unmapped_and_its_neighbours_are_not) {
    // Two pages: boot.asm says why.
    expect_guard_pages_below(kernel_stack(), kernel_stack_guard(), 2);
}

KERNEL_TEST(double_fault_stack_has_an_unmapped_guard_page_below_it) {
    expect_guard_pages_below(double_fault_stack(), double_fault_stack_guard_page(), 1);
}

namespace {

// A bit of a page's memory type, at the same place in both kinds of entry.
constexpr uint64_t kWriteThrough = uint64_t{1} << 3;
// Execute-disable: a right, at the top of an entry of any kind.
constexpr uint64_t kExecuteDisable = uint64_t{1} << 63;
// Set by the CPU in each entry that a walk of the tables passes through.
constexpr uint64_t kAccessed = uint64_t{1} << 5;

}  // namespace

// unmap_page's pool holds a table for a second 2 MiB page, in case the two
// stacks' guard pages lie in different ones. Here they share one, so the
// test spends the second table on a page of the last 2 MiB page that
// boot.asm maps, where nothing of the kernel lies: the split must take a
// table of its own, not refill the first one, which maps the kernel itself.
// The 2 MiB page gets bits first that boot.asm sets on no page: the user
// bit, a right that the directory entry must pass on too, since the CPU
// combines the rights of every level; execute-disable, a right far above
// the low 12 bits of flags, which each small page must keep; and two bits
// of a memory type, write-through, which keeps its place in a 4 KiB entry,
// and PAT, which moves from bit 12 to bit 7 (paging.h). The memory type is
// the pages' own: in the directory entry, which now points to a table, it
// would be the type of the table. Neither the user bit in kernel mode nor
// a memory type in QEMU makes a difference that a test could see, and
// execute-disable is a reserved bit while EFER.NXE is off (boot.asm leaves
// it off): the test only reads these entries, no access goes through them,
// so the tables are read back.
KERNEL_TEST(double_fault_unmap_page_splits_a_second_2_mib_page_with_a_table_of_its_own) {
    constexpr uint64_t kFarPage = 0x3ff0'0000;  // 1 GiB - 1 MiB
    PageTableEntry& directory_entry = page_directory_entry(kFarPage);
    const uint64_t huge_page = directory_entry.address() & page_bits(PageBits::HugePageAddress);
    directory_entry =
        PageTableEntry{directory_entry.bits() | kWriteThrough | kExecuteDisable |
                       page_bits(PageBits::UserAccessible, PageBits::HugePageAttributeTable)};
    unmap_page(kFarPage);

    // A table's address, and the rights: no Huge, no memory type.
    EXPECT_EQ(directory_entry.bits() & ~(page_bits(PageBits::Address) | kAccessed),
              page_bits(PageBits::Present, PageBits::Writable, PageBits::UserAccessible));
    const auto& table = *reinterpret_cast<const PageTable*>(directory_entry.address());
    const uint64_t small_page_bits =
        page_bits(PageBits::Present, PageBits::Writable, PageBits::UserAccessible,
                  PageBits::SmallPageAttributeTable) |
        kWriteThrough | kExecuteDisable;
    size_t wrong_entries = 0;
    for (size_t i = 0; i < kEntriesPerTable; ++i) {
        const uint64_t page = huge_page + i * kPageSize;
        const uint64_t expected = page == kFarPage ? 0 : page | small_page_bits;
        if (table.entries[i].bits() != expected && wrong_entries++ == 0) {
            serial_println(
                "entry {} of the new table, for the page at {:016x}, is {:016x}, not {:016x}: bits "
                "{:x} differ (PAT is bit 12 of a 2 MiB entry, 0x1000, and bit 7 of a 4 KiB one, "
                "0x80; write-through is bit 3 of both, 0x8, user bit 2, 0x4, and execute-disable "
                "bit 63)",
                i, page, table.entries[i].bits(), expected, table.entries[i].bits() ^ expected);
        }
    }
    EXPECT_EQ(wrong_entries, 0);
    EXPECT_FALSE(is_mapped(kFarPage));
    EXPECT_TRUE(is_mapped(kFarPage - kPageSize));
    EXPECT_TRUE(is_mapped(kFarPage + kPageSize));
    expect_guard_pages_below(kernel_stack(), kernel_stack_guard(), 2);
    expect_guard_pages_below(double_fault_stack(), double_fault_stack_guard_page(), 1);
}

namespace {

uint64_t control_register_3() {
    uint64_t value;
    asm volatile("mov %%cr3, %0" : "=r"(value));
    return value;
}

void load_control_register_3(uint64_t value) {
    asm volatile("mov %0, %%cr3" : : "r"(value) : "memory");
}

}  // namespace

// CR3 holds more than the PML4's address: its low 12 bits hold flags, bit 3
// write-through and bit 4 cache-disable for the accesses to the PML4 itself
// (SDM vol. 3, 4.5). boot.asm sets none, so a walk that took all of CR3 for
// the address would go unnoticed: the test sets write-through, which
// changes no translation, and wants the walk to find the same entry.
KERNEL_TEST(double_fault_page_directory_entry_leaves_out_the_flags_of_cr3) {
    const uint64_t cr3 = control_register_3();
    const PageTableEntry* expected = &page_directory_entry(kernel_stack().begin);
    load_control_register_3(cr3 | kWriteThrough);
    const PageTableEntry* found = &page_directory_entry(kernel_stack().begin);
    load_control_register_3(cr3);
    EXPECT_EQ(found, expected);
}

namespace {

// The first words of each cause that write_double_fault_cause can name.
constexpr const char* kKernelStackOverflowed = "  The kernel stack overflowed";
constexpr const char* kDoubleFaultStackOverflowed = "  The double fault stack overflowed";
constexpr const char* kAnotherCause = "  An exception arrived";

bool cause_begins_with(uint64_t cr2, const char* words) {
    TextSink line;
    write_double_fault_cause(line, cr2);
    for (size_t i = 0; words[i] != '\0'; ++i) {
        if (line.text()[i] != words[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace

// The report names an overflow only when CR2 lies in a guard page, from its
// first byte to its last: an overflow may fault in either of the kernel
// stack's two (boot.asm says why two), and an address below a guard page,
// a stale CR2 among them, tells of no overflow.
KERNEL_TEST(double_fault_cause_is_the_guard_page_that_cr2_lies_in) {
    const AddressRange kernel_guard = kernel_stack_guard();
    EXPECT_TRUE(cause_begins_with(kernel_guard.begin, kKernelStackOverflowed));
    EXPECT_TRUE(cause_begins_with(kernel_guard.end - 1, kKernelStackOverflowed));
    EXPECT_TRUE(cause_begins_with(kernel_guard.begin - 1, kAnotherCause));
    EXPECT_TRUE(cause_begins_with(kernel_guard.end, kAnotherCause));
    const AddressRange double_fault_guard = double_fault_stack_guard_page();
    EXPECT_TRUE(cause_begins_with(double_fault_guard.begin, kDoubleFaultStackOverflowed));
    EXPECT_TRUE(cause_begins_with(double_fault_guard.end - 1, kDoubleFaultStackOverflowed));
    EXPECT_TRUE(cause_begins_with(double_fault_guard.begin - 1, kAnotherCause));
    EXPECT_TRUE(cause_begins_with(double_fault_guard.end, kAnotherCause));
}

KERNEL_TEST(double_fault_stack_overflow_runs_the_handler_on_the_ist_stack) {
    const CaughtException caught =
        run_expecting_exception(ExceptionVector::DoubleFault, [] { overflow_stack(); });
    EXPECT_TRUE(caught.raised);
    EXPECT_EQ(caught.frame.vector, static_cast<uint8_t>(ExceptionVector::DoubleFault));
    EXPECT_EQ(caught.frame.error_code, 0);
    // The push that overflowed the stack faulted in the guard page, and so
    // did the CPU's push of that page fault's frame.
    EXPECT_TRUE(kernel_stack_guard().contains(caught.cr2));
    EXPECT_EQ(find_kernel_symbol(caught.frame.rip).name, "overflow_stack");
    // The interrupted code's stack pointer is at the bottom of its stack,
    // the handler's on the double fault stack.
    EXPECT_TRUE(caught.frame.rsp <= kernel_stack().begin);
    EXPECT_TRUE(kernel_stack_guard().contains(caught.frame.rsp) ||
                caught.frame.rsp == kernel_stack().begin);
    EXPECT_TRUE(double_fault_stack().contains(caught.frame_address));
}
