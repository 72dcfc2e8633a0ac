#pragma once

// The Global Descriptor Table that the kernel runs with from now on.
//
// Long mode has given up segmentation: the CPU ignores the base and limit of
// code and data segments (FS and GS keep a base, which MSRs set). The GDT
// remains for two things: the code segment
// in CS says that the CPU runs 64-bit code at privilege level 0, and a system
// descriptor points to the Task State Segment, whose Interrupt Stack Table
// gives the double fault handler a stack of its own.
//
// There is no data segment. DS, ES, FS, GS and SS keep the null selector the
// boot code loaded: 64-bit mode allows a null selector in the data segment
// registers, an interrupt without a privilege change keeps SS as it is, and
// IRETQ back to privilege level 0 accepts a null SS (SDM vol. 3, 6.14.3).
// Descriptors for data and user mode belong to the chapter that needs them.

#include <stddef.h>
#include <stdint.h>

#include "tss.h"

// The bits of an 8-byte descriptor that this kernel sets, at their place in
// the descriptor (SDM vol. 3, 3.4.5, figure 3-8):
//   bits 0-15   limit 15:0          bits 40-47  access: type, S, DPL, P
//   bits 16-39  base 23:0           bits 48-51  limit 19:16
//   bits 56-63  base 31:24          bits 52-55  flags: AVL, L, D/B, G
enum class DescriptorBits : uint64_t {
    // Type of a code segment (S set): bit 40 accessed, 41 readable, 43
    // executable. Accessed is set in advance, so that the CPU never writes
    // to the descriptor to record its first use.
    CodeExecuteReadAccessed = uint64_t{0b1011} << 40,
    // Type of a system segment (S clear): a 64-bit TSS that is not busy.
    // LTR changes it to busy (0b1011) in the table itself.
    AvailableTaskStateSegment = uint64_t{0b1001} << 40,
    CodeOrData = uint64_t{1} << 44,  // S: clear for system segments
    Present = uint64_t{1} << 47,
    LongMode = uint64_t{1} << 53,  // L: the code runs in 64-bit mode
};

template <typename... Bits>
constexpr uint64_t descriptor_bits(Bits... bits) {
    return (static_cast<uint64_t>(bits) | ...);
}

class SegmentDescriptor {
  public:
    // The null descriptor. Entry 0 must hold it: loading the null selector
    // into a data segment register is how software says "no segment".
    constexpr SegmentDescriptor() = default;

    // The kernel's 64-bit code segment, at privilege level 0 (DPL, bits
    // 45-46, zero). D/B must be clear when L is set; base and limit stay
    // zero because 64-bit mode ignores them.
    static constexpr SegmentDescriptor kernel_code() {
        using enum DescriptorBits;
        return SegmentDescriptor(
            descriptor_bits(Present, CodeOrData, CodeExecuteReadAccessed, LongMode));
    }

    // The low half of a 64-bit TSS descriptor (SDM vol. 3, "TSS Descriptor
    // in 64-bit mode"): base 31:0 and a limit in bytes (G clear).
    static constexpr SegmentDescriptor task_state_segment_low(uint64_t base, uint32_t limit) {
        using enum DescriptorBits;
        const uint64_t spread_limit = (limit & 0xffff) | uint64_t{(limit >> 16) & 0xf} << 48;
        const uint64_t spread_base = (base & 0xff'ffff) << 16 | ((base >> 24) & 0xff) << 56;
        return SegmentDescriptor(descriptor_bits(Present, AvailableTaskStateSegment) |
                                 spread_limit | spread_base);
    }

    [[nodiscard]] constexpr uint64_t bits() const { return bits_; }

  private:
    constexpr explicit SegmentDescriptor(uint64_t bits) : bits_(bits) {}

    uint64_t bits_ = 0;
};
static_assert(sizeof(SegmentDescriptor) == 8);
// The same descriptors worked out by hand. Code: access byte 0x9b (present,
// DPL 0, code or data, execute/read, accessed), flags 0x2 (L only). TSS:
// access byte 0x89 (present, DPL 0, system, 64-bit TSS available), flags 0
// (byte granularity), base and limit spread over their three and two parts.
static_assert(SegmentDescriptor::kernel_code().bits() == 0x0020'9b00'0000'0000);
static_assert(SegmentDescriptor::task_state_segment_low(0x1234'5678, 0x67).bits() ==
              0x1200'8934'5678'0067);
// A limit of 0x67 leaves the limit's upper part (bits 48-51) zero, wherever
// it goes: a larger one shows that its bits 16-19 land there.
static_assert(SegmentDescriptor::task_state_segment_low(0x1234'5678, 0xa'bcde).bits() ==
              0x120a'8934'5678'bcde);

// In 64-bit mode a TSS may lie anywhere in the address space, so its
// descriptor takes two entries: the usual 8 bytes, then base 63:32 and a
// reserved dword whose bits 8-12 must be zero (where the CPU would look for
// the type of a descriptor, it must find none that is valid).
struct TaskStateSegmentDescriptor {
    SegmentDescriptor low;
    uint32_t base_upper;
    uint32_t reserved;

    static constexpr TaskStateSegmentDescriptor of(uint64_t base, uint32_t limit) {
        return {SegmentDescriptor::task_state_segment_low(base, limit), static_cast<uint32_t>(base >> 32), 0};
    }
};
static_assert(sizeof(TaskStateSegmentDescriptor) == 16);
static_assert(offsetof(TaskStateSegmentDescriptor, base_upper) == 8);
// This kernel's TSS lies below 4 GiB, where base 63:32 is zero whether it is
// written or not; a higher-half kernel's lies far above.
static_assert(TaskStateSegmentDescriptor::of(0xffff'8000'1234'5678, 0x67).low.bits() ==
              0x1200'8934'5678'0067);
static_assert(TaskStateSegmentDescriptor::of(0xffff'8000'1234'5678, 0x67).base_upper == 0xffff'8000);

struct GlobalDescriptorTable {
    SegmentDescriptor null;
    SegmentDescriptor kernel_code;
    TaskStateSegmentDescriptor task_state_segment;
};
static_assert(sizeof(GlobalDescriptorTable) == 32);

// A selector is the byte offset of a descriptor in the GDT, with the table
// indicator (bit 2, 0 = GDT) and the requested privilege level (bits 0-1,
// 0 = kernel) in its low bits, all zero here.
constexpr uint16_t kKernelCodeSelector = offsetof(GlobalDescriptorTable, kernel_code);
constexpr uint16_t kTaskStateSegmentSelector = offsetof(GlobalDescriptorTable, task_state_segment);
static_assert(kKernelCodeSelector == 0x08 && kTaskStateSegmentSelector == 0x10);

// The operand of LGDT and LIDT, and what SGDT and SIDT store: a table's
// size in bytes minus one, then its address, right after the 2-byte limit.
struct [[gnu::packed]] DescriptorTablePointer {
    uint16_t limit;
    uint64_t base;
};
static_assert(sizeof(DescriptorTablePointer) == 10);

// Puts the TSS's descriptor into the GDT, loads the GDT, reloads CS from it
// and loads the task register with the TSS.
void load_gdt_and_tss(const TaskStateSegment& task_state_segment);
