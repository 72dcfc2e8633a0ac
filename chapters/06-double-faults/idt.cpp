#include "idt.h"

namespace {

// The operand of lidt (SDM 6.10): the table's size in bytes
// minus one, then its linear address. Ten bytes with no padding between
// the two, hence packed.
struct [[gnu::packed]] IdtRegister {
    uint16_t limit;
    uint64_t base;
};

static_assert(sizeof(IdtRegister) == 10);

// The gates name the code segment the kernel already runs in rather than a
// number copied from the boot code's GDT, so they stay right if a later
// chapter loads a GDT of its own before it builds the IDT.
uint16_t current_code_segment() {
    uint16_t selector;
    asm("mov %%cs, %0" : "=r"(selector));
    return selector;
}

}  // namespace

void InterruptDescriptorTable::set_gate(uint8_t vector, uint64_t handler, InterruptStack stack) {
    gates_[vector] = GateDescriptor(handler, current_code_segment(), GateType::Interrupt,
                                    PrivilegeLevel::Kernel, stack);
}

void InterruptDescriptorTable::load() const {
    const IdtRegister idtr{sizeof(gates_) - 1, reinterpret_cast<uint64_t>(gates_)};
    // The "memory" clobber makes the compiler finish writing the gates before
    // the CPU may use them.
    asm volatile("lidt %0" : : "m"(idtr) : "memory");
}
