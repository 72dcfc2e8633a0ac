#include "tss.h"

#include "paging.h"

namespace {

// As large as the kernel stack: the double fault handler prints its report
// with the same formatting code as everything else. Below it, in its first
// page, lies its guard page, which double_fault.cpp unmaps: a handler that
// overflowed this stack would otherwise write over whatever is below.
// Page alignment makes the guard one whole page, and the top 16-byte
// aligned, as the SDM expects of an IST pointer (vol. 3, 6.14.2): the CPU
// rounds RSP down to 16 bytes before it pushes the interrupt frame, so from
// a misaligned top it would start below the top this file reports.
constexpr size_t kDoubleFaultStackSize = 16 * 1024;
alignas(kPageSize) uint8_t double_fault_stack_memory[kPageSize + kDoubleFaultStackSize];

TaskStateSegment task_state_segment;

}  // namespace

AddressRange double_fault_stack_guard_page() {
    const auto begin = reinterpret_cast<uintptr_t>(double_fault_stack_memory);
    return {begin, begin + kPageSize};
}

AddressRange double_fault_stack() {
    const uintptr_t bottom = double_fault_stack_guard_page().end;
    return {bottom, bottom + kDoubleFaultStackSize};
}

const TaskStateSegment& initialize_task_state_segment() {
    // A gate names IST1 as 1, since 0 means "no switch"; the table starts
    // with IST1.
    task_state_segment.interrupt_stack_table[static_cast<size_t>(kDoubleFaultStack) - 1] =
        double_fault_stack().end;
    // An I/O map base at or beyond the segment's limit means there is no I/O
    // permission bitmap: code running with a privilege level above IOPL may
    // use no port at all.
    task_state_segment.io_map_base = sizeof(TaskStateSegment);
    return task_state_segment;
}
