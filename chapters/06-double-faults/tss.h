#pragma once

// The Task State Segment, and the stacks it hands to the CPU.
//
// In 32-bit mode a TSS held a whole task's registers for hardware task
// switching. 64-bit mode dropped task switching; what is left of the TSS
// (SDM vol. 3, "Task Management in 64-bit Mode", 7.7 or 8.7 by edition,
// figure "64-Bit TSS Format") is a list of stacks the CPU switches to:
// RSP0-RSP2 when an interrupt raises the privilege level, and the seven
// entries of the Interrupt Stack Table (IST) for IDT gates that name one.
// An IST switch happens unconditionally, before the CPU pushes the
// interrupt frame, so a handler reached through it runs on a good stack even
// when the stack pointer it interrupted points at unmapped memory.

#include <stddef.h>
#include <stdint.h>

#include "address_range.h"
#include "idt.h"

// The manual's layout puts RSP0 at offset 4, so every 64-bit field after the
// first is misaligned: without packed the compiler would insert padding.
struct [[gnu::packed]] TaskStateSegment {
    uint32_t reserved0;
    uint64_t privilege_stack_table[3];  // RSP0-RSP2
    uint64_t reserved1;
    uint64_t interrupt_stack_table[7];  // IST1-IST7
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t io_map_base;  // offset of the I/O permission bitmap
};
static_assert(sizeof(TaskStateSegment) == 104);
static_assert(offsetof(TaskStateSegment, privilege_stack_table) == 4);
static_assert(offsetof(TaskStateSegment, interrupt_stack_table) == 36);
static_assert(offsetof(TaskStateSegment, reserved2) == 92);
static_assert(offsetof(TaskStateSegment, io_map_base) == 102);

// The entry of the Interrupt Stack Table that holds the double fault stack,
// as an IDT gate names it.
constexpr InterruptStack kDoubleFaultStack = InterruptStack::Stack1;

// Fills in the kernel's one TSS and returns it, ready for the GDT.
const TaskStateSegment& initialize_task_state_segment();

// The stack the CPU switches to for a double fault. It grows down from end.
[[nodiscard]] AddressRange double_fault_stack();
// The page right below it, to be unmapped.
[[nodiscard]] AddressRange double_fault_stack_guard_page();
