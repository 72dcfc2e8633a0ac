// Integration tests: double faults that nobody expects. The kernel's double
// fault handler prints its report and panics, and the runner counts the
// panic as the test's success. Each test must run alone (the harness
// selects it on the command line), as the first panic ends the run. The
// harness checks the report in the panic message.

#include <stdint.h>

#include "exceptions.h"
#include "gdt.h"
#include "idt.h"
#include "kernel_test.h"
#include "stack_overflow.h"
#include "tss.h"

namespace {

// boot.asm maps the first GiB only; this address lies beyond it. It is
// written as one byte: the address is odd, and a wider write would also be
// misaligned, which C++ leaves undefined (the UBSan build reports it).
constexpr uint64_t kUnmappedAddress = 0xdeadbeef;

// The IDT the CPU uses, found as the CPU finds it: through IDTR.
GateDescriptor* loaded_idt() {
    DescriptorTablePointer idtr;
    asm volatile("sidt %0" : "=m"(idtr));
    return reinterpret_cast<GateDescriptor*>(idtr.base);
}

}  // namespace

extern "C" [[gnu::noinline]] void write_to_unmapped_memory() {
    *reinterpret_cast<volatile uint8_t*>(kUnmappedAddress) = 1;
}

// Moves to the bottom of the double fault stack and pushes until it
// overflows, as a double fault handler that recursed too deep would.
extern "C" [[noreturn, gnu::noinline]] void overflow_double_fault_stack() {
    asm volatile(
        "mov %0, %%rsp\n"
        "1: push %%rax\n"
        "jmp 1b"
        :
        : "r"(double_fault_stack().begin)
        : "memory");
    __builtin_unreachable();
}

KERNEL_TEST_SHOULD_PANIC(double_fault_after_stack_overflow_panics) {
    overflow_stack();
}

// The push into the double fault stack's guard page faults, and so does
// delivering that page fault on the same stack: a double fault, which the
// CPU delivers at the top of the double fault stack, far from the guard.
KERNEL_TEST_SHOULD_PANIC(double_fault_after_double_fault_stack_overflow_panics) {
    overflow_double_fault_stack();
}

// Without a gate for the page fault, the CPU cannot deliver it: the missing
// gate raises a second exception, and the two make a double fault.
KERNEL_TEST_SHOULD_PANIC(double_fault_after_page_fault_without_handler_panics) {
    loaded_idt()[static_cast<uint8_t>(ExceptionVector::PageFault)] = GateDescriptor();
    write_to_unmapped_memory();
}
