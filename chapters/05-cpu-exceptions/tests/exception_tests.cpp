// Integration tests of the exception handlers: each raises an exception on
// purpose and checks what the handler saw. Every caught exception's report
// also goes out on serial, where the harness checks it field by field
// (harness/test_05_cpu_exceptions.py).

#include <stdint.h>

#include "error_codes.h"
#include "exceptions.h"
#include "expect_exception.h"
#include "identity_map.h"
#include "kernel_symbols.h"
#include "kernel_test.h"
#include "serial_console.h"

namespace {

// boot.asm maps the first GiB only, with 2 MiB pages. The accesses there
// are of one byte: the address is odd, and a wider access would also be
// misaligned, which C++ leaves undefined (the UBSan build reports it).
constexpr uint64_t kUnmappedAddress = 0xdeadbeef;
constexpr uint64_t kUnmappedCodeAddress = 0xdead0000;
// The last of those pages, 1 GiB - 2 MiB: no code or data of the kernel
// lies there, so a test may break its mapping for a while.
constexpr uint64_t kLastHugePage = 0x3fe0'0000;

}  // namespace

// The functions that raise the exceptions are extern "C", so that their
// names in the reports are plain, the same for both compilers, and easy
// for a test to look for.
extern "C" {

[[gnu::noinline]] void raise_divide_error() {
    asm volatile(
        "xor %%edx, %%edx\n"
        "mov $1, %%eax\n"
        "xor %%ecx, %%ecx\n"
        "div %%ecx"  // EDX:EAX / 0
        :
        :
        : "eax", "ecx", "edx");
}

[[gnu::noinline]] void raise_invalid_opcode() {
    asm volatile("ud2");  // defined to be undefined
}

// The boot GDT has two entries; index 100 lies far beyond its limit.
[[gnu::noinline]] void raise_general_protection_with_selector() {
    constexpr uint16_t kSelectorBeyondGdt = 100 << 3;
    asm volatile("mov %0, %%ds" : : "r"(kSelectorBeyondGdt));
}

// A selector with TI (bit 2) set picks a descriptor of the LDT, here the
// first one. The kernel has no LDT, but the LDTR still holds what the reset
// put there: 64 KiB at address 0 (QEMU's log shows base 0, limit 0xffff),
// whose first bytes the load would take for a descriptor, and succeed.
// lldt with the null selector makes the LDTR unusable, so that every LDT
// selector faults (SDM vol. 2A, LLDT); the kernel has no use for an LDT
// afterwards either.
[[gnu::noinline]] void raise_general_protection_ldt_selector() {
    constexpr uint16_t kNullSelector = 0;
    constexpr uint16_t kFirstLdtSelector = 1 << 2;
    asm volatile(
        "lldt %0\n"
        "mov %1, %%ds"
        :
        : "r"(kNullSelector), "r"(kFirstLdtSelector));
}

// The kernel fills the gates of the 32 exception vectors only: gate 128 is
// all zero. The CPU checks a gate's type before its present bit (SDM vol.
// 2A, INT n, in IA-32e mode), and type 0 is none of a 64-bit mode gate's:
// #GP, not the #NP of a gate that is merely not present.
[[gnu::noinline]] void raise_general_protection_absent_gate() {
    asm volatile("int $0x80");
}

// Addresses must be canonical: bits 63-47 all equal (SDM vol. 1, 3.3.7.1).
[[gnu::noinline]] void raise_general_protection_non_canonical() {
    *reinterpret_cast<volatile uint64_t*>(0x8000'0000'0000'0000);
}

[[gnu::noinline]] void read_unmapped_memory() {
    *reinterpret_cast<volatile uint8_t*>(kUnmappedAddress);
}

[[gnu::noinline]] void write_unmapped_memory() {
    *reinterpret_cast<volatile uint8_t*>(kUnmappedAddress) = 1;
}

[[gnu::noinline]] void read_last_huge_page() {
    *reinterpret_cast<volatile uint64_t*>(kLastHugePage);
}

[[gnu::noinline]] void write_last_huge_page() {
    *reinterpret_cast<volatile uint64_t*>(kLastHugePage) = 1;
}

[[gnu::noinline]] void read_last_identity_mapped_byte() {
    *reinterpret_cast<volatile uint8_t*>(kIdentityMapEnd - 1);
}

[[gnu::noinline]] void read_first_byte_past_the_identity_map() {
    *reinterpret_cast<volatile uint8_t*>(kIdentityMapEnd);
}

}  // extern "C"

namespace {

bool is_in_function(uint64_t address, const char* name) {
    const SymbolLocation symbol = find_kernel_symbol(address);
    if (symbol.name == nullptr) {
        return false;
    }
    size_t i = 0;
    while (name[i] != '\0' && symbol.name[i] == name[i]) {
        ++i;
    }
    return name[i] == symbol.name[i];
}

// A fault reports the address of the instruction that faulted: the CPU
// restarts it once the handler returns. These check the bytes there.
bool instruction_at(uint64_t address, uint8_t first, uint8_t second) {
    const auto* code = reinterpret_cast<const uint8_t*>(address);
    return code[0] == first && code[1] == second;
}

void expect_caught(const CaughtException& caught, ExceptionVector vector) {
    EXPECT_TRUE(caught.raised);
    EXPECT_EQ(caught.frame.vector, static_cast<uint8_t>(vector));
}

}  // namespace

KERNEL_TEST(exceptions_breakpoint_returns_and_execution_continues) {
    // The kernel's own breakpoint handler, not a test's: it reports and
    // returns. Each register holds its own value across the exception.
    uint64_t after[14];
    asm volatile(
        "push %%rbp\n"
        "movabs $0x0101010101010101, %%rax\n"
        "movabs $0x0202020202020202, %%rbx\n"
        "movabs $0x0303030303030303, %%rcx\n"
        "movabs $0x0404040404040404, %%rdx\n"
        "movabs $0x0505050505050505, %%rsi\n"
        "movabs $0x0606060606060606, %%rbp\n"
        "movabs $0x0808080808080808, %%r8\n"
        "movabs $0x0909090909090909, %%r9\n"
        "movabs $0x1010101010101010, %%r10\n"
        "movabs $0x1111111111111111, %%r11\n"
        "movabs $0x1212121212121212, %%r12\n"
        "movabs $0x1313131313131313, %%r13\n"
        "movabs $0x1414141414141414, %%r14\n"
        "movabs $0x1515151515151515, %%r15\n"
        "int3\n"
        "mov %%rax, 0(%%rdi)\n"
        "mov %%rbx, 8(%%rdi)\n"
        "mov %%rcx, 16(%%rdi)\n"
        "mov %%rdx, 24(%%rdi)\n"
        "mov %%rsi, 32(%%rdi)\n"
        "mov %%rbp, 40(%%rdi)\n"
        "mov %%r8, 48(%%rdi)\n"
        "mov %%r9, 56(%%rdi)\n"
        "mov %%r10, 64(%%rdi)\n"
        "mov %%r11, 72(%%rdi)\n"
        "mov %%r12, 80(%%rdi)\n"
        "mov %%r13, 88(%%rdi)\n"
        "mov %%r14, 96(%%rdi)\n"
        "mov %%r15, 104(%%rdi)\n"
        "pop %%rbp"
        :
        : "D"(after)
        : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
          "memory");
    const uint64_t expected[14] = {
        0x0101010101010101, 0x0202020202020202, 0x0303030303030303, 0x0404040404040404,
        0x0505050505050505, 0x0606060606060606, 0x0808080808080808, 0x0909090909090909,
        0x1010101010101010, 0x1111111111111111, 0x1212121212121212, 0x1313131313131313,
        0x1414141414141414, 0x1515151515151515,
    };
    for (size_t i = 0; i < 14; ++i) {
        EXPECT_EQ(after[i], expected[i]);
    }
}

KERNEL_TEST(exceptions_divide_error) {
    const CaughtException caught =
        run_expecting_exception(ExceptionVector::DivideError, raise_divide_error);
    expect_caught(caught, ExceptionVector::DivideError);
    EXPECT_TRUE(is_in_function(caught.frame.rip, "raise_divide_error"));
    EXPECT_TRUE(instruction_at(caught.frame.rip, 0xf7, 0xf1));  // div ecx
}

KERNEL_TEST(exceptions_invalid_opcode) {
    const CaughtException caught =
        run_expecting_exception(ExceptionVector::InvalidOpcode, raise_invalid_opcode);
    expect_caught(caught, ExceptionVector::InvalidOpcode);
    EXPECT_TRUE(is_in_function(caught.frame.rip, "raise_invalid_opcode"));
    EXPECT_TRUE(instruction_at(caught.frame.rip, 0x0f, 0x0b));  // ud2
}

KERNEL_TEST(exceptions_general_protection_selector) {
    const CaughtException caught = run_expecting_exception(ExceptionVector::GeneralProtection,
                                                           raise_general_protection_with_selector);
    expect_caught(caught, ExceptionVector::GeneralProtection);
    const SelectorErrorCode error(caught.frame.error_code);
    EXPECT_TRUE(error.names_selector());
    EXPECT_FALSE(error.external());
    EXPECT_EQ(error.table(), SelectorErrorCode::Table::Gdt);
    EXPECT_EQ(error.index(), 100);
    EXPECT_TRUE(is_in_function(caught.frame.rip, "raise_general_protection_with_selector"));
}

KERNEL_TEST(exceptions_general_protection_ldt_selector) {
    const CaughtException caught = run_expecting_exception(ExceptionVector::GeneralProtection,
                                                           raise_general_protection_ldt_selector);
    expect_caught(caught, ExceptionVector::GeneralProtection);
    const SelectorErrorCode error(caught.frame.error_code);
    // Index 0, but a selector all the same: it is not the null selector.
    EXPECT_TRUE(error.names_selector());
    EXPECT_FALSE(error.external());
    EXPECT_EQ(error.table(), SelectorErrorCode::Table::Ldt);
    EXPECT_EQ(error.index(), 0);
    EXPECT_TRUE(is_in_function(caught.frame.rip, "raise_general_protection_ldt_selector"));
}

KERNEL_TEST(exceptions_general_protection_absent_gate) {
    const CaughtException caught = run_expecting_exception(ExceptionVector::GeneralProtection,
                                                           raise_general_protection_absent_gate);
    expect_caught(caught, ExceptionVector::GeneralProtection);
    const SelectorErrorCode error(caught.frame.error_code);
    EXPECT_FALSE(error.external());
    EXPECT_EQ(error.table(), SelectorErrorCode::Table::Idt);
    // Gate 128: the SDM puts the vector in bits 3-15, QEMU 7.2 twice the
    // vector (error_codes.h).
    EXPECT_TRUE(error.index() == 128 || error.index() == 256);
    // The `int 0x80` never ran: RIP points at it, not past it.
    EXPECT_TRUE(instruction_at(caught.frame.rip, 0xcd, 0x80));
    EXPECT_TRUE(is_in_function(caught.frame.rip, "raise_general_protection_absent_gate"));
}

KERNEL_TEST(exceptions_general_protection_non_canonical) {
    const CaughtException caught = run_expecting_exception(ExceptionVector::GeneralProtection,
                                                           raise_general_protection_non_canonical);
    expect_caught(caught, ExceptionVector::GeneralProtection);
    EXPECT_EQ(caught.frame.error_code, 0);
    EXPECT_TRUE(is_in_function(caught.frame.rip, "raise_general_protection_non_canonical"));
}

KERNEL_TEST(exceptions_page_fault_read) {
    const CaughtException caught =
        run_expecting_exception(ExceptionVector::PageFault, read_unmapped_memory);
    expect_caught(caught, ExceptionVector::PageFault);
    EXPECT_EQ(caught.cr2, kUnmappedAddress);
    const PageFaultErrorCode error(caught.frame.error_code);
    EXPECT_FALSE(error.present());
    EXPECT_FALSE(error.write());
    EXPECT_FALSE(error.user());
    EXPECT_FALSE(error.reserved_bit());
    EXPECT_FALSE(error.instruction_fetch());
    EXPECT_TRUE(is_in_function(caught.frame.rip, "read_unmapped_memory"));
}

KERNEL_TEST(exceptions_page_fault_write) {
    const CaughtException caught =
        run_expecting_exception(ExceptionVector::PageFault, write_unmapped_memory);
    expect_caught(caught, ExceptionVector::PageFault);
    EXPECT_EQ(caught.cr2, kUnmappedAddress);
    const PageFaultErrorCode error(caught.frame.error_code);
    EXPECT_FALSE(error.present());
    EXPECT_TRUE(error.write());
    EXPECT_FALSE(error.user());
    EXPECT_TRUE(is_in_function(caught.frame.rip, "write_unmapped_memory"));
}

namespace {

// Turns on execute-disable (IA32_EFER.NXE, bit 11) for as long as it lives:
// without it the CPU leaves the instruction-fetch bit of a page fault's
// error code 0 (error_codes.h). No page of this kernel is marked
// execute-disable, so nothing else changes.
class ExecuteDisableOn {
  public:
    ExecuteDisableOn() : saved_(read_efer()) { write_efer(saved_ | kNoExecuteEnable); }
    ~ExecuteDisableOn() { write_efer(saved_); }
    ExecuteDisableOn(const ExecuteDisableOn&) = delete;
    ExecuteDisableOn& operator=(const ExecuteDisableOn&) = delete;

  private:
    static constexpr uint32_t kEfer = 0xc0000080;
    static constexpr uint64_t kNoExecuteEnable = 1 << 11;

    static uint64_t read_efer() {
        uint32_t low, high;
        asm volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(kEfer));
        return static_cast<uint64_t>(high) << 32 | low;
    }
    static void write_efer(uint64_t value) {
        asm volatile("wrmsr"
                     :
                     : "c"(kEfer), "a"(static_cast<uint32_t>(value)),
                       "d"(static_cast<uint32_t>(value >> 32)));
    }

    uint64_t saved_;
};

// In an entry that maps a 2 MiB page, bits 13-20 are reserved (SDM 4.5):
// the CPU refuses an entry with one of them set with a page fault.
constexpr uint64_t kReservedBit = 1 << 13;
// R/W, bit 1: boot.asm maps every page writable; without it the page is
// read-only.
constexpr uint64_t kWritableBit = 1 << 1;

// Which bits of a page table entry to set, and which to clear.
struct EntryChange {
    uint64_t set = 0;
    uint64_t clear = 0;
};

// Changes the page directory entry of kLastHugePage for as long as it
// lives, then puts the entry back as it was.
class ChangedHugePageEntry {
  public:
    explicit ChangedHugePageEntry(EntryChange change)
        : entry_(page_directory_entry(kLastHugePage)), saved_(*entry_) {
        *entry_ = (saved_ | change.set) & ~change.clear;
        forget_translation();
    }
    ~ChangedHugePageEntry() {
        *entry_ = saved_;
        forget_translation();
    }
    ChangedHugePageEntry(const ChangedHugePageEntry&) = delete;
    ChangedHugePageEntry& operator=(const ChangedHugePageEntry&) = delete;

  private:
    static constexpr uint64_t kTableAddress = 0x000f'ffff'ffff'f000;  // bits 12-51

    // The page tables lie in identity-mapped memory, so the physical
    // addresses in CR3 and in the entries serve as pointers.
    static volatile uint64_t* page_directory_entry(uint64_t address) {
        uint64_t cr3;
        asm volatile("mov %%cr3, %0" : "=r"(cr3));
        const auto* pml4 = reinterpret_cast<const uint64_t*>(cr3 & kTableAddress);
        const auto* pdpt =
            reinterpret_cast<const uint64_t*>(pml4[address >> 39 & 511] & kTableAddress);
        auto* directory =
            reinterpret_cast<volatile uint64_t*>(pdpt[address >> 30 & 511] & kTableAddress);
        return &directory[address >> 21 & 511];
    }

    // The TLB may still hold the translation made from the old entry.
    static void forget_translation() {
        asm volatile("invlpg (%0)" : : "r"(kLastHugePage) : "memory");
    }

    volatile uint64_t* entry_;
    uint64_t saved_;
};

}  // namespace

KERNEL_TEST(exceptions_page_fault_reserved_bit) {
    const ChangedHugePageEntry reserved_bit({.set = kReservedBit});
    const CaughtException caught =
        run_expecting_exception(ExceptionVector::PageFault, read_last_huge_page);
    expect_caught(caught, ExceptionVector::PageFault);
    EXPECT_EQ(caught.cr2, kLastHugePage);
    const PageFaultErrorCode error(caught.frame.error_code);
    // The SDM has P set as well (error_codes.h); QEMU 7.2 leaves it 0.
    EXPECT_TRUE(error.reserved_bit());
    EXPECT_FALSE(error.write());
    EXPECT_TRUE(is_in_function(caught.frame.rip, "read_last_huge_page"));
}

// The one page fault of a page that is present: P is 1, where every other
// test's page fault has it 0. The kernel's own write faults because
// boot.asm turns on CR0.WP; without it only user code is held to
// read-only pages (SDM 4.6.1).
KERNEL_TEST(exceptions_page_fault_write_read_only) {
    const ChangedHugePageEntry read_only({.clear = kWritableBit});
    const CaughtException caught =
        run_expecting_exception(ExceptionVector::PageFault, write_last_huge_page);
    expect_caught(caught, ExceptionVector::PageFault);
    EXPECT_EQ(caught.cr2, kLastHugePage);
    const PageFaultErrorCode error(caught.frame.error_code);
    EXPECT_TRUE(error.present());
    EXPECT_TRUE(error.write());
    EXPECT_FALSE(error.user());
    EXPECT_FALSE(error.reserved_bit());
    EXPECT_FALSE(error.instruction_fetch());
    EXPECT_TRUE(is_in_function(caught.frame.rip, "write_last_huge_page"));
}

// identity_map.h says where boot.asm's identity map ends, and the kernel
// reads the boot information and the symbol table only below that: the
// last byte before kIdentityMapEnd must read, the byte at it must fault.
KERNEL_TEST(exceptions_page_fault_where_the_identity_map_ends) {
    const bool faulted_below_the_end =
        run_expecting_exception(ExceptionVector::PageFault, read_last_identity_mapped_byte).raised;
    EXPECT_FALSE(faulted_below_the_end);
    const CaughtException at_the_end =
        run_expecting_exception(ExceptionVector::PageFault, read_first_byte_past_the_identity_map);
    EXPECT_TRUE(at_the_end.raised);
    EXPECT_EQ(at_the_end.cr2, kIdentityMapEnd);
    EXPECT_FALSE(PageFaultErrorCode(at_the_end.frame.error_code).present());
    EXPECT_TRUE(is_in_function(at_the_end.frame.rip, "read_first_byte_past_the_identity_map"));
}

KERNEL_TEST(exceptions_page_fault_instruction_fetch) {
    const ExecuteDisableOn execute_disable;
    // A call to an address where nothing is mapped faults on the fetch of
    // its first instruction, so RIP and CR2 are both that address.
    const CaughtException caught = run_expecting_exception(
        ExceptionVector::PageFault, reinterpret_cast<void (*)()>(kUnmappedCodeAddress));
    expect_caught(caught, ExceptionVector::PageFault);
    EXPECT_EQ(caught.cr2, kUnmappedCodeAddress);
    EXPECT_EQ(caught.frame.rip, kUnmappedCodeAddress);
    const PageFaultErrorCode error(caught.frame.error_code);
    EXPECT_FALSE(error.present());
    EXPECT_FALSE(error.write());
    EXPECT_TRUE(error.instruction_fetch());
}

namespace {

// A value of its own in each general register at the `int N`, so that the
// frame shows whether the stub saved every one where ExceptionFrame has it.
constexpr GeneralRegisters kLoadedRegisters = {
    {0x0101010101010101, 0x0202020202020202, 0x0303030303030303, 0x0404040404040404,
     0x0505050505050505, 0x0606060606060606, 0x0707070707070707, 0x0808080808080808,
     0x0909090909090909, 0x1010101010101010, 0x1111111111111111, 0x1212121212121212,
     0x1313131313131313, 0x1414141414141414, 0x1515151515151515}};

constexpr const char* kRegisterNames[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                            "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

// `int N` raises vector N whatever the vector normally means; the CPU then
// pushes no error code (SDM 6.13), which exception_entry.asm must notice.
// Spelt as bytes so that it is the two-byte form for N = 3 as well, which
// an assembler may shorten to the one-byte int3. The general registers
// hold kLoadedRegisters (rdi last: it holds their address until then). The
// test's handler does not come back here but resumes in
// run_expecting_exception, which gets back the registers a call preserves;
// the clobbers and the saved rbp are for an `int N` that returns.
template <uint8_t Vector>
void software_interrupt() {
    const uint64_t* values = kLoadedRegisters.values;
    asm volatile(
        "push %%rbp\n"
        "mov 0(%%rdi), %%rax\n"
        "mov 8(%%rdi), %%rbx\n"
        "mov 16(%%rdi), %%rcx\n"
        "mov 24(%%rdi), %%rdx\n"
        "mov 32(%%rdi), %%rsi\n"
        "mov 48(%%rdi), %%rbp\n"
        "mov 56(%%rdi), %%r8\n"
        "mov 64(%%rdi), %%r9\n"
        "mov 72(%%rdi), %%r10\n"
        "mov 80(%%rdi), %%r11\n"
        "mov 88(%%rdi), %%r12\n"
        "mov 96(%%rdi), %%r13\n"
        "mov 104(%%rdi), %%r14\n"
        "mov 112(%%rdi), %%r15\n"
        "mov 40(%%rdi), %%rdi\n"
        ".byte 0xcd, %c1\n"
        "pop %%rbp"
        : "+D"(values)
        : "i"(Vector)
        : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
          "memory");
}

constexpr void (*kSoftwareInterrupts[kExceptionVectorCount])() = {
    software_interrupt<0>,  software_interrupt<1>,  software_interrupt<2>,  software_interrupt<3>,
    software_interrupt<4>,  software_interrupt<5>,  software_interrupt<6>,  software_interrupt<7>,
    software_interrupt<8>,  software_interrupt<9>,  software_interrupt<10>, software_interrupt<11>,
    software_interrupt<12>, software_interrupt<13>, software_interrupt<14>, software_interrupt<15>,
    software_interrupt<16>, software_interrupt<17>, software_interrupt<18>, software_interrupt<19>,
    software_interrupt<20>, software_interrupt<21>, software_interrupt<22>, software_interrupt<23>,
    software_interrupt<24>, software_interrupt<25>, software_interrupt<26>, software_interrupt<27>,
    software_interrupt<28>, software_interrupt<29>, software_interrupt<30>, software_interrupt<31>,
};

}  // namespace

KERNEL_TEST(exceptions_every_vector_reaches_its_handler) {
    for (uint8_t vector = 0; vector < kExceptionVectorCount; ++vector) {
        const CaughtException caught = run_expecting_exception(
            static_cast<ExceptionVector>(vector), kSoftwareInterrupts[vector], kLoadedRegisters);
        EXPECT_TRUE(caught.raised);
        EXPECT_EQ(caught.frame.vector, vector);
        EXPECT_EQ(caught.frame.error_code, 0);
        // A software interrupt is a trap: RIP points past the two-byte
        // `int N`. Only a frame that the stub read at the right place
        // shows it, and CS and SS as the kernel's.
        EXPECT_TRUE(instruction_at(caught.frame.rip - 2, 0xcd, vector));
        EXPECT_EQ(caught.frame.cs, 0x08);  // boot.asm's code segment
        EXPECT_EQ(caught.frame.ss, 0);
        // The report on serial shows the general registers only when one
        // is not what was loaded (expect_exception.h): each is checked here.
        const GeneralRegisters saved = general_registers_of(caught.frame);
        for (size_t i = 0; i < 15; ++i) {
            if (!EXPECT_EQ(saved.values[i], kLoadedRegisters.values[i])) {
                serial_println("int {}: the frame's {} is not what was loaded", vector,
                               kRegisterNames[i]);
            }
        }
    }
}
