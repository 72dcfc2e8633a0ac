#pragma once

// What the error code of an exception says. Most exceptions that push one
// push a segment selector error code; the page fault has its own layout.

#include <stdint.h>

// The error code of #TS, #NP, #SS and #GP when the fault concerns a segment
// selector or an IDT gate (Intel SDM vol. 3, 6.13). The CPU pushes 0 when
// the fault concerns no selector (#GP(0) for a non-canonical address, for
// instance), and 0 also stands for the null selector.
class SelectorErrorCode {
  public:
    enum class Table : uint8_t { Gdt, Idt, Ldt };

    constexpr explicit SelectorErrorCode(uint64_t value) : value_(value) {}

    [[nodiscard]] constexpr bool names_selector() const { return value_ != 0; }
    // EXT, bit 0: the fault happened while the CPU delivered an event from
    // outside the program (a hardware interrupt, or an earlier exception),
    // not while it ran an instruction of the program.
    [[nodiscard]] constexpr bool external() const { return (value_ & 1) != 0; }
    // IDT, bit 1: the index is of an IDT gate; otherwise TI, bit 2, picks
    // the GDT (0) or the current LDT (1). Beware: for an IDT gate in 64-bit
    // mode, where gates are 16 bytes, QEMU puts the gate's offset / 8 in
    // bits 3-15, which reads as twice the vector.
    [[nodiscard]] constexpr Table table() const {
        if ((value_ & 2) != 0) {
            return Table::Idt;
        }
        return (value_ & 4) != 0 ? Table::Ldt : Table::Gdt;
    }
    // Bits 3-15: the index of the descriptor or gate, as in a selector.
    [[nodiscard]] constexpr uint16_t index() const { return (value_ >> 3) & 0x1fff; }

  private:
    uint64_t value_;
};

static_assert(SelectorErrorCode(0x322).table() == SelectorErrorCode::Table::Idt);
static_assert(SelectorErrorCode(0x320).index() == 100);
static_assert(SelectorErrorCode(0x1c).table() == SelectorErrorCode::Table::Ldt);
// TI counts only where IDT is clear (SDM 6.13): an IDT gate's error code
// with bit 2 set still names the IDT.
static_assert(SelectorErrorCode(0x406).table() == SelectorErrorCode::Table::Idt);
static_assert(SelectorErrorCode(0x19).external() && SelectorErrorCode(0x19).index() == 3);
// EXT is bit 0 alone: an error code of every index bit is not external.
// Checked here, as the tests raise no fault with EXT set.
static_assert(!SelectorErrorCode(0xfff8).external());
// The index is all of bits 3-15: a selector of garbage, such as 0xdead
// loaded into a segment register, names one above 4095.
static_assert(SelectorErrorCode(0xdead).index() == 0x1bd5);

// The error code of a page fault (SDM 4.7). The address whose
// access faulted is not in it but in CR2.
class PageFaultErrorCode {
  public:
    constexpr explicit PageFaultErrorCode(uint64_t value) : value_(value) {}

    // P, bit 0: 0 when the page was not present, 1 when it was present
    // but the access broke its protection.
    [[nodiscard]] constexpr bool present() const { return bit(0); }
    // W/R, bit 1: the access was a write (1) or a read (0).
    [[nodiscard]] constexpr bool write() const { return bit(1); }
    // U/S, bit 2: the access came from user mode (CPL 3).
    [[nodiscard]] constexpr bool user() const { return bit(2); }
    // RSVD, bit 3: a paging-structure entry had a reserved bit set. Reserved
    // bits count only in present entries, so the SDM has P set as well;
    // QEMU 7.2 (TCG), measured, leaves P 0.
    [[nodiscard]] constexpr bool reserved_bit() const { return bit(3); }
    // I/D, bit 4: the access was an instruction fetch. Older SDM editions
    // and QEMU set it only with execute-disable (IA32_EFER.NXE) or SMEP
    // (CR4.SMEP) on, and leave it 0 otherwise: checked in QEMU.
    [[nodiscard]] constexpr bool instruction_fetch() const { return bit(4); }

  private:
    [[nodiscard]] constexpr bool bit(unsigned index) const { return ((value_ >> index) & 1) != 0; }

    uint64_t value_;
};

// Each field is its bit and no other: set alone, it reads 1; with every
// other bit set, 0. Checked here, as no test can raise a fault with U set:
// the kernel runs no user code.
static_assert(PageFaultErrorCode(0b00001).present() && !PageFaultErrorCode(0b11110).present());
static_assert(PageFaultErrorCode(0b00010).write() && !PageFaultErrorCode(0b11101).write());
static_assert(PageFaultErrorCode(0b00100).user() && !PageFaultErrorCode(0b11011).user());
static_assert(PageFaultErrorCode(0b01000).reserved_bit() &&
              !PageFaultErrorCode(0b10111).reserved_bit());
static_assert(PageFaultErrorCode(0b10000).instruction_fetch() &&
              !PageFaultErrorCode(0b01111).instruction_fetch());

// The linear address of the access that caused the last page fault. Read
// it before anything can fault again: a second page fault overwrites it.
[[nodiscard]] inline uint64_t page_fault_address() {
    uint64_t address;
    asm volatile("mov %%cr2, %0" : "=r"(address));
    return address;
}
