#pragma once

// The Interrupt Descriptor Table: where the CPU looks up what to run when
// vector N (an exception, a hardware interrupt or `int N`) arrives. It holds
// up to 256 gate descriptors; entry N is for vector N. The CPU finds the
// table through the IDTR register, which `lidt` loads (Intel SDM vol. 3,
// 6.10 and 6.14).

#include <stddef.h>
#include <stdint.h>

// What the CPU does with the IF flag on the way in (SDM 6.12.1): an
// interrupt gate clears it, so that no maskable interrupt interrupts the
// handler (iretq restores the interrupted IF on the way out); a trap gate
// leaves it as it was. The value is the type field of the descriptor.
enum class GateType : uint8_t {
    Interrupt = 0xe,
    Trap = 0xf,
};

// The least privileged code that may reach the gate with `int N`, `int3` or
// `into` (SDM 6.12.1). Exceptions raised by the CPU itself and hardware
// interrupts ignore it.
enum class PrivilegeLevel : uint8_t {
    Kernel = 0,
    User = 3,
};

// Which stack the CPU switches to for this vector: Current keeps the stack
// it was on (at the same privilege level), Stack1..Stack7 name an entry of
// the Interrupt Stack Table in the TSS (SDM 6.14.5). Chapter 6 uses it.
enum class InterruptStack : uint8_t {
    Current = 0,
    Stack1 = 1,
    Stack2 = 2,
    Stack3 = 3,
    Stack4 = 4,
    Stack5 = 5,
    Stack6 = 6,
    Stack7 = 7,
};

// One 16-byte gate of a 64-bit IDT (SDM 6.14.1). The handler's
// address is split over three fields because the layout grew out of the
// 8-byte gates of 16- and 32-bit mode, which it still resembles.
struct GateDescriptor {
    uint16_t offset_low = 0;        // handler address bits 0-15
    uint16_t segment_selector = 0;  // code segment the handler runs in
    uint8_t interrupt_stack = 0;    // bits 0-2: IST index; bits 3-7 must be 0
    uint8_t attributes = 0;         // bits 0-3 type, 4 zero, 5-6 DPL, 7 present
    uint16_t offset_middle = 0;     // handler address bits 16-31
    uint32_t offset_high = 0;       // handler address bits 32-63
    uint32_t reserved = 0;          // must be 0

    // An all-zero gate: not present, and of no valid type. A vector that
    // reaches it raises #GP with an error code that points into the IDT.
    constexpr GateDescriptor() = default;

    constexpr GateDescriptor(uint64_t handler, uint16_t code_segment, GateType type,
                             PrivilegeLevel privilege, InterruptStack stack)
        : offset_low(static_cast<uint16_t>(handler)),
          segment_selector(code_segment),
          interrupt_stack(static_cast<uint8_t>(stack)),
          attributes(encode_attributes(type, privilege)),
          offset_middle(static_cast<uint16_t>(handler >> 16)),
          offset_high(static_cast<uint32_t>(handler >> 32)) {}

    static constexpr uint8_t kPresent = 1 << 7;

    static constexpr uint8_t encode_attributes(GateType type, PrivilegeLevel privilege) {
        return static_cast<uint8_t>(kPresent | static_cast<uint8_t>(privilege) << 5 |
                                    static_cast<uint8_t>(type));
    }

    [[nodiscard]] constexpr uint64_t handler() const {
        return static_cast<uint64_t>(offset_high) << 32 |
               static_cast<uint64_t>(offset_middle) << 16 | offset_low;
    }
};

static_assert(sizeof(GateDescriptor) == 16);
static_assert(offsetof(GateDescriptor, offset_low) == 0);
static_assert(offsetof(GateDescriptor, segment_selector) == 2);
static_assert(offsetof(GateDescriptor, interrupt_stack) == 4);
static_assert(offsetof(GateDescriptor, attributes) == 5);
static_assert(offsetof(GateDescriptor, offset_middle) == 6);
static_assert(offsetof(GateDescriptor, offset_high) == 8);
static_assert(offsetof(GateDescriptor, reserved) == 12);
// The byte every tutorial quotes: present, DPL 0, 64-bit interrupt gate.
static_assert(GateDescriptor::encode_attributes(GateType::Interrupt, PrivilegeLevel::Kernel) ==
              0x8e);
// And a gate that user code may reach with `int N`, as a system call's
// will: the kernel's own gates have DPL 0, which reads the same shifted to
// any place, so only this one shows that the DPL lands in bits 5-6.
static_assert(GateDescriptor::encode_attributes(GateType::Trap, PrivilegeLevel::User) == 0xef);
static_assert(GateDescriptor(0x1122334455667788, 0x08, GateType::Interrupt, PrivilegeLevel::Kernel,
                             InterruptStack::Current)
                  .handler() == 0x1122334455667788);
// This chapter's gates all stay on the current stack, IST index 0, which
// reads the same shifted to any place; chapter 6 gives one a stack of its
// own.
static_assert(GateDescriptor(0, 0x08, GateType::Interrupt, PrivilegeLevel::Kernel,
                             InterruptStack::Stack7)
                  .interrupt_stack == 7);

class InterruptDescriptorTable {
  public:
    static constexpr size_t kVectorCount = 256;

    // Every gate starts out not present.
    constexpr InterruptDescriptorTable() = default;

    // Points `vector` at `handler` through an interrupt gate that only the
    // kernel may reach with `int N`. The handler runs in the code segment
    // the kernel runs in now, on `stack`.
    void set_gate(uint8_t vector, uint64_t handler, InterruptStack stack = InterruptStack::Current);

    // Makes this the table the CPU uses. The table must stay where it is
    // for as long as it is loaded: lidt keeps only its address.
    void load() const;

  private:
    // The SDM suggests an 8-byte aligned base for the best performance of
    // the CPU's descriptor fetches (SDM 6.10); 16 also keeps each gate
    // within one cache line.
    alignas(16) GateDescriptor gates_[kVectorCount];
};

static_assert(sizeof(InterruptDescriptorTable) == 256 * 16);
