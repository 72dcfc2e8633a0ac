// Tests that read back the state the chapter sets up in the CPU, rather
// than judge it by its visible effects: the IDT as the CPU finds it through
// IDTR, the registers as an exception gives them back, the frame of a real
// double fault. A mistake in a gate, a stub or the breakpoint handler that
// happens to print the right report still fails here.

#include <stddef.h>
#include <stdint.h>

#include "exceptions.h"
#include "expect_exception.h"
#include "idt.h"
#include "kernel_test.h"
#include "print.h"
#include "screen.h"
#include "serial_console.h"

// The assembly half, tests/known_registers.asm.
extern "C" {

struct RegisterSnapshot {
    uint64_t general[15];  // rax, rbx, rcx, rdx, rsi, rdi, rbp, r8-r15
    uint64_t rsp_before;
    uint64_t rsp_after;
    uint64_t rflags_before;
    uint64_t rflags_after;
};

extern const uint64_t known_register_values[15];
extern RegisterSnapshot register_snapshot;
extern uint64_t rsp_at_unmapped_write;
extern const struct EntryReturn {
    uint64_t rsp;
    uint64_t rflags;
} entry_return;
extern void (*const software_interrupts[kExceptionVectorCount])();
extern const uint64_t exception_entry_points[kExceptionVectorCount];  // exception_entry.asm
// Labels: only their addresses mean something.
extern const uint8_t invalid_opcode_with_known_registers_resume[];
extern const uint8_t page_fault_with_known_registers_resume[];
extern const uint8_t general_protection_with_known_registers_resume[];
extern const uint8_t write_unmapped_page_access[];
extern const uint8_t enter_as_the_cpu_with_error_code_return[];

void int3_with_known_registers();
void invalid_opcode_with_known_registers();
void page_fault_with_known_registers();
void general_protection_with_known_registers();
void write_unmapped_page();
void enter_as_the_cpu_with_error_code(uint64_t entry_stub, uint64_t error_code);

}  // extern "C"

namespace {

constexpr const char* kRegisterNames[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                            "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
constexpr uint64_t kUnmappedAddress = 0x4000'0000;  // as in known_registers.asm

// What sidt stores: the IDT the CPU uses now, whatever the kernel's
// variables say.
struct [[gnu::packed]] IdtRegister {
    uint16_t limit;
    uint64_t base;
};

IdtRegister stored_idtr() {
    IdtRegister idtr;
    asm volatile("sidt %0" : "=m"(idtr));
    return idtr;
}

GateDescriptor* loaded_gates() {
    return reinterpret_cast<GateDescriptor*>(stored_idtr().base);
}

uint16_t code_segment() {
    uint16_t selector;
    asm volatile("mov %%cs, %0" : "=r"(selector));
    return selector;
}

uint16_t stack_segment() {
    uint16_t selector;
    asm volatile("mov %%ss, %0" : "=r"(selector));
    return selector;
}

// Every field of the gate of an exception vector, as a 64-bit interrupt
// gate that only the kernel may reach, on the current stack, leading to
// the vector's entry stub.
bool exception_gate_is_right(const GateDescriptor& gate, uint8_t vector) {
    bool right = EXPECT_EQ(gate.attributes & GateDescriptor::kPresent, GateDescriptor::kPresent);
    right &= EXPECT_EQ(gate.attributes & 0xf, static_cast<uint8_t>(GateType::Interrupt));
    right &= EXPECT_EQ(gate.attributes & 0x10, 0);  // always zero in a gate
    right &= EXPECT_EQ(gate.attributes >> 5 & 0b11, static_cast<uint8_t>(PrivilegeLevel::Kernel));
    right &= EXPECT_EQ(gate.segment_selector, code_segment());
    right &= EXPECT_EQ(gate.interrupt_stack, static_cast<uint8_t>(InterruptStack::Current));
    right &= EXPECT_EQ(gate.handler(), exception_entry_points[vector]);
    right &= EXPECT_EQ(gate.reserved, 0u);
    return right;
}

// Runs `raise` and compares what it wrote down with what it loaded.
void expect_registers_preserved(void (*raise)()) {
    register_snapshot = RegisterSnapshot{};
    raise();
    for (size_t i = 0; i < 15; ++i) {
        if (!EXPECT_EQ(register_snapshot.general[i], known_register_values[i])) {
            serial_println("{} was not given back", kRegisterNames[i]);
        }
    }
    EXPECT_EQ(register_snapshot.rsp_after, register_snapshot.rsp_before);
    EXPECT_EQ(register_snapshot.rflags_after, register_snapshot.rflags_before);
}

// Where the handler of a fault that a test resumes sends the CPU: the
// fault would otherwise happen again, forever.
constinit uint64_t resume_address = 0;
constinit uint64_t resumed_vector = 0;

void resume_after_fault(ExceptionFrame& frame) {
    resumed_vector = frame.vector;
    frame.rip = resume_address;
}

void expect_registers_preserved_across_fault(ExceptionVector vector, void (*raise)(),
                                             const uint8_t* resume) {
    resume_address = reinterpret_cast<uint64_t>(resume);
    resumed_vector = UINT64_MAX;
    const ExceptionHandler previous = set_exception_handler(vector, resume_after_fault);
    expect_registers_preserved(raise);
    set_exception_handler(vector, previous);
    EXPECT_EQ(resumed_vector, static_cast<uint8_t>(vector));
}

// What the handler of a software interrupt found.
constinit ExceptionFrame interrupt_frame{};

void record_interrupt(ExceptionFrame& frame) {
    interrupt_frame = frame;
}

}  // namespace

KERNEL_TEST(cpu_state_idt_register_points_at_a_full_table) {
    EXPECT_EQ(stored_idtr().limit, sizeof(InterruptDescriptorTable) - 1);
}

KERNEL_TEST(cpu_state_every_exception_gate_is_an_interrupt_gate_to_its_stub) {
    const GateDescriptor* gates = loaded_gates();
    for (uint8_t vector = 0; vector < kExceptionVectorCount; ++vector) {
        if (!exception_gate_is_right(gates[vector], vector)) {
            serial_println("the gate of vector {} is wrong", vector);
        }
    }
}

KERNEL_TEST(cpu_state_gates_past_the_exceptions_are_not_present) {
    const GateDescriptor* gates = loaded_gates();
    for (size_t vector = kExceptionVectorCount; vector < InterruptDescriptorTable::kVectorCount;
         ++vector) {
        if (!EXPECT_EQ(gates[vector].attributes & GateDescriptor::kPresent, 0)) {
            serial_println("vector {} has a gate", vector);
        }
    }
}

// The gate of vector N leads to a stub that says it is vector N, and that
// pushes an error code of 0 for `int N`, which pushes none even on the
// vectors whose exceptions do.
KERNEL_TEST(cpu_state_every_vector_reaches_its_own_handler) {
    for (uint8_t vector = 0; vector < kExceptionVectorCount; ++vector) {
        const auto exception = static_cast<ExceptionVector>(vector);
        interrupt_frame = ExceptionFrame{};
        interrupt_frame.vector = UINT64_MAX;
        const ExceptionHandler previous = set_exception_handler(exception, record_interrupt);
        software_interrupts[vector]();
        set_exception_handler(exception, previous);
        const uint64_t after_int = reinterpret_cast<uint64_t>(software_interrupts[vector]) + 2;
        bool right = EXPECT_EQ(interrupt_frame.vector, vector);
        right &= EXPECT_EQ(interrupt_frame.error_code, 0u);
        right &= EXPECT_EQ(interrupt_frame.rip, after_int);
        if (!right) {
            serial_println("int {} went wrong", vector);
        }
    }
}

namespace {

// The handler a vector has now. set_exception_handler is the only way to
// read it: it returns the old handler, which goes back at once. Nothing
// raises an exception in between, so none finds the null handler.
ExceptionHandler handler_of(ExceptionVector vector) {
    const ExceptionHandler handler = set_exception_handler(vector, nullptr);
    set_exception_handler(vector, handler);
    return handler;
}

}  // namespace

// Only a breakpoint may return by default: the handler of a fault that
// returned would resume the faulting instruction, which faults again,
// forever. So every other vector has the handler that reports and panics,
// the page fault's, whose panic the unhandled_exception kernel shows.
KERNEL_TEST(cpu_state_every_vector_but_the_breakpoint_panics_by_default) {
    const ExceptionHandler panics = handler_of(ExceptionVector::PageFault);
    for (uint8_t vector = 0; vector < kExceptionVectorCount; ++vector) {
        const auto exception = static_cast<ExceptionVector>(vector);
        if (exception != ExceptionVector::Breakpoint &&
            !EXPECT_TRUE(handler_of(exception) == panics)) {
            serial_println("vector {} does not panic by default", vector);
        }
    }
}

namespace {

// The vectors whose exceptions push an error code: SDM vol. 3, table 6-1,
// and AMD's APM vol. 2, 8.2, for #VC and #SX.
constexpr ExceptionVector kVectorsWithErrorCode[] = {
    ExceptionVector::DoubleFault,       ExceptionVector::InvalidTss,
    ExceptionVector::SegmentNotPresent, ExceptionVector::StackSegmentFault,
    ExceptionVector::GeneralProtection, ExceptionVector::PageFault,
    ExceptionVector::AlignmentCheck,    ExceptionVector::ControlProtection,
    ExceptionVector::VmmCommunication,  ExceptionVector::SecurityException,
};

// Records the frame like record_interrupt, then returns from
// enter_as_the_cpu_with_error_code whatever the stub made of the frame. A
// stub that pushes a 0 of its own where the error code is lays the frame
// 8 bytes off: its iretq would take the error code for RIP, and the
// kernel would die here. Written anew, every field that iretq takes is
// right in either case, and the test fails on what it recorded instead.
void record_interrupt_and_return_from_entry(ExceptionFrame& frame) {
    interrupt_frame = frame;
    frame.rip = reinterpret_cast<uint64_t>(enter_as_the_cpu_with_error_code_return);
    frame.cs = code_segment();
    frame.rflags = entry_return.rflags;
    frame.rsp = entry_return.rsp;
    frame.ss = stack_segment();
}

}  // namespace

// Each of those stubs, entered through its gate with the frame the CPU
// would push, must hand the handler that error code and the frame above
// it.
KERNEL_TEST(cpu_state_every_error_code_reaches_the_handler) {
    for (const ExceptionVector exception : kVectorsWithErrorCode) {
        const auto vector = static_cast<uint8_t>(exception);
        const uint64_t error_code = 0xe000 | vector;  // its own for each vector
        interrupt_frame = ExceptionFrame{};
        const ExceptionHandler previous =
            set_exception_handler(exception, record_interrupt_and_return_from_entry);
        enter_as_the_cpu_with_error_code(loaded_gates()[vector].handler(), error_code);
        set_exception_handler(exception, previous);
        bool right = EXPECT_EQ(interrupt_frame.vector, vector);
        right &= EXPECT_EQ(interrupt_frame.error_code, error_code);
        right &= EXPECT_EQ(interrupt_frame.rip,
                           reinterpret_cast<uint64_t>(enter_as_the_cpu_with_error_code_return));
        right &= EXPECT_EQ(interrupt_frame.cs, code_segment());
        if (!right) {
            serial_println("vector {}'s error code went wrong", vector);
        }
    }
}

KERNEL_TEST(cpu_state_breakpoint_preserves_every_register) {
    expect_registers_preserved(int3_with_known_registers);
}

namespace {

// Each register's known value with every bit flipped: restored from the
// copy the stub saved, or into the wrong place, it cannot look right.
void write_every_register_into_the_frame(ExceptionFrame& frame) {
    uint64_t* const registers[15] = {&frame.rax, &frame.rbx, &frame.rcx, &frame.rdx, &frame.rsi,
                                     &frame.rdi, &frame.rbp, &frame.r8,  &frame.r9,  &frame.r10,
                                     &frame.r11, &frame.r12, &frame.r13, &frame.r14, &frame.r15};
    for (size_t i = 0; i < 15; ++i) {
        *registers[i] = ~known_register_values[i];
    }
}

}  // namespace

// What a handler writes into the frame is what the interrupted code gets
// back, in every register: the stub pops the frame, it does not skip a
// register that C++ code happens to leave unchanged (rbx, rbp, r12-r15).
KERNEL_TEST(cpu_state_registers_a_handler_writes_into_the_frame_are_returned) {
    register_snapshot = RegisterSnapshot{};
    const ExceptionHandler previous =
        set_exception_handler(ExceptionVector::Breakpoint, write_every_register_into_the_frame);
    int3_with_known_registers();
    set_exception_handler(ExceptionVector::Breakpoint, previous);
    for (size_t i = 0; i < 15; ++i) {
        if (!EXPECT_EQ(register_snapshot.general[i], ~known_register_values[i])) {
            serial_println("{} is not what the handler wrote into the frame", kRegisterNames[i]);
        }
    }
}

KERNEL_TEST(cpu_state_resumed_invalid_opcode_preserves_every_register) {
    expect_registers_preserved_across_fault(ExceptionVector::InvalidOpcode,
                                            invalid_opcode_with_known_registers,
                                            invalid_opcode_with_known_registers_resume);
}

KERNEL_TEST(cpu_state_resumed_page_fault_preserves_every_register) {
    expect_registers_preserved_across_fault(ExceptionVector::PageFault,
                                            page_fault_with_known_registers,
                                            page_fault_with_known_registers_resume);
}

KERNEL_TEST(cpu_state_resumed_general_protection_preserves_every_register) {
    expect_registers_preserved_across_fault(ExceptionVector::GeneralProtection,
                                            general_protection_with_known_registers,
                                            general_protection_with_known_registers_resume);
}

// A breakpoint inside code that prints, with the lock of the output held:
// the handler must not wait for a lock that the code it interrupted holds,
// which on one CPU would be forever.
KERNEL_TEST(cpu_state_breakpoint_while_the_screen_is_locked_returns) {
    LockedScreen screen;
    asm volatile("int3");
}

KERNEL_TEST(cpu_state_breakpoint_while_the_serial_console_is_locked_returns) {
    LockedSerialConsole serial;
    asm volatile("int3");
}

// And the screen still gets its report: the console's lock says nothing
// about the screen's, which is free.
KERNEL_TEST_ON_SCREEN(cpu_state_breakpoint_while_the_serial_console_is_locked_reports_on_screen) {
    clear_screen();
    {
        LockedSerialConsole serial;
        asm volatile("int3");
    }
    EXPECT_TRUE(screen_row_starts_with(0, "EXCEPTION 3 #BP Breakpoint at rip="));
}

namespace {

constexpr uint64_t kDirectionFlag = uint64_t{1} << 10;  // RFLAGS.DF

// RFLAGS as the handler of a test found it while it ran.
constinit uint64_t rflags_in_handler = 0;

void record_rflags_in_handler(ExceptionFrame&) {
    asm volatile("pushfq\n\tpopq %0" : "=r"(rflags_in_handler));
}

// Where a 16-byte aligned local of a test's handler was.
constinit uint64_t aligned_local_address = 0;

void record_aligned_local_address(ExceptionFrame&) {
    alignas(16) volatile uint8_t local = 0;
    uint64_t address = reinterpret_cast<uint64_t>(&local);
    // Hidden from the compiler, which would otherwise know the answer.
    asm volatile("" : "+r"(address));
    aligned_local_address = address;
}

void ignore_breakpoint(ExceptionFrame&) {}

constexpr size_t kLeafLocals = 8;

constexpr uint64_t leaf_local_value(size_t index) {
    return uint64_t{0x5a5a'0000'0000'0000} | index;
}

// A leaf function: it calls nothing, so given a red zone the compiler keeps
// these locals below RSP without moving RSP (clang and GCC both do, at
// -O2), right where the breakpoint's frame goes.
[[gnu::noinline]] bool leaf_locals_survive_a_breakpoint() {
    volatile uint64_t locals[kLeafLocals];
    for (size_t i = 0; i < kLeafLocals; ++i) {
        locals[i] = leaf_local_value(i);
    }
    asm volatile("int3");
    for (size_t i = 0; i < kLeafLocals; ++i) {
        if (locals[i] != leaf_local_value(i)) {
            return false;
        }
    }
    return true;
}

}  // namespace

// Compiled code may assume the direction flag clear (System V ABI: string
// instructions count upwards), and the code an exception interrupts may
// have set it. The entry stub clears it before it calls C++; without that,
// a handler's memcpy could run backwards over the memory below its buffer.
KERNEL_TEST(cpu_state_handler_runs_with_the_direction_flag_clear) {
    rflags_in_handler = kDirectionFlag;  // as found if the handler never runs
    const ExceptionHandler previous =
        set_exception_handler(ExceptionVector::Breakpoint, record_rflags_in_handler);
    asm volatile("std\n\tint3\n\tcld" : : : "memory");
    set_exception_handler(ExceptionVector::Breakpoint, previous);
    EXPECT_EQ(rflags_in_handler & kDirectionFlag, 0u);
}

// The System V ABI promises every function a stack that was 16-byte
// aligned at its call, and compiled code relies on it unchecked: it lays
// out aligned locals by it, and SSE code, where it is allowed, faults on a
// misaligned spill. The entry stub keeps the promise when it calls C++.
KERNEL_TEST(cpu_state_handler_runs_on_a_16_byte_aligned_stack) {
    aligned_local_address = 1;  // as found if the handler never runs
    const ExceptionHandler previous =
        set_exception_handler(ExceptionVector::Breakpoint, record_aligned_local_address);
    asm volatile("int3" : : : "memory");
    set_exception_handler(ExceptionVector::Breakpoint, previous);
    EXPECT_EQ(aligned_local_address % 16, 0u);
}

// The CPU pushes an exception's frame right below the interrupted code's
// RSP, and the entry stub and the handler go on below that. The System V
// ABI lets a leaf function keep 128 bytes of data there, the red zone; the
// kernel is built with -mno-red-zone (common/toolchain.mk) so that none of
// its code does.
KERNEL_TEST(cpu_state_a_leaf_functions_locals_survive_a_breakpoint) {
    const ExceptionHandler previous = set_exception_handler(ExceptionVector::Breakpoint, ignore_breakpoint);
    const bool survived = leaf_locals_survive_a_breakpoint();
    set_exception_handler(ExceptionVector::Breakpoint, previous);
    EXPECT_TRUE(survived);
}

// A real double fault: a page fault whose gate is gone. Delivering it
// through an all-zero gate, whose type is no gate's, raises #GP, and a
// contributory exception while delivering a page fault is a double fault
// (SDM vol. 3, table 6-5). The
// double fault's error code is always 0; its frame is the one the CPU
// pushed for the page fault's instruction. (The SDM leaves the saved RIP of
// a double fault undefined; QEMU, like real CPUs, gives the faulting one.)
// A stub that mistakes whether the CPU pushed an error code shifts every
// field of this frame by 8 bytes.
KERNEL_TEST(cpu_state_double_fault_frame_is_the_faulting_instructions) {
    GateDescriptor& page_fault_gate =
        loaded_gates()[static_cast<uint8_t>(ExceptionVector::PageFault)];
    const GateDescriptor kept = page_fault_gate;
    page_fault_gate = GateDescriptor{};
    const CaughtException caught =
        run_expecting_exception(ExceptionVector::DoubleFault, write_unmapped_page);
    page_fault_gate = kept;

    EXPECT_TRUE(caught.raised);
    EXPECT_EQ(caught.frame.vector, static_cast<uint8_t>(ExceptionVector::DoubleFault));
    EXPECT_EQ(caught.frame.error_code, 0u);
    EXPECT_EQ(caught.frame.rip, reinterpret_cast<uint64_t>(write_unmapped_page_access));
    EXPECT_EQ(caught.frame.cs, code_segment());
    EXPECT_EQ(caught.frame.rsp, rsp_at_unmapped_write);
    EXPECT_EQ(caught.frame.ss, stack_segment());
    EXPECT_EQ(caught.cr2, kUnmappedAddress);
}
