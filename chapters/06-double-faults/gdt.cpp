#include "gdt.h"

namespace {

// Not const: LTR writes to the TSS descriptor to mark the TSS busy. The
// TSS's address is not a compile-time constant, so its descriptor is filled
// in by load_gdt_and_tss.
constinit GlobalDescriptorTable gdt{
    .null = SegmentDescriptor(),
    .kernel_code = SegmentDescriptor::kernel_code(),
    .task_state_segment = {},
};

// A far return pops RIP and then CS, checking the new CS against the GDT
// just loaded. 64-bit mode has no far jump to an immediate address, and the
// far jump through memory takes a 64-bit offset on Intel CPUs only, so
// pushing what LRETQ will pop is the portable way to change CS. (Pushing
// inside inline assembly is safe because the kernel has no red zone, the
// 128 bytes below RSP that compiled code may use without moving RSP.)
void reload_code_segment(uint16_t selector) {
    asm volatile(
        "pushq %[selector]\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:"
        :
        : [selector] "r"(uint64_t{selector})
        : "rax", "memory");
}

}  // namespace

void load_gdt_and_tss(const TaskStateSegment& task_state_segment) {
    gdt.task_state_segment = TaskStateSegmentDescriptor::of(reinterpret_cast<uint64_t>(&task_state_segment),
                                                            sizeof(TaskStateSegment) - 1);

    const DescriptorTablePointer pointer{sizeof(gdt) - 1, reinterpret_cast<uint64_t>(&gdt)};
    asm volatile("lgdt %0" : : "m"(pointer) : "memory");

    // The CPU keeps a copy of the code segment's descriptor in a hidden part
    // of CS, taken from the boot code's table, and reads the new table only
    // when CS is loaded again.
    reload_code_segment(kKernelCodeSelector);

    // The task register keeps the TSS's base and limit from its descriptor,
    // as CS keeps the code segment's; the CPU finds the IST through it.
    asm volatile("ltr %0" : : "r"(kTaskStateSegmentSelector) : "memory");
}
