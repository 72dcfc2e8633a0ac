// A double fault in the double fault handler: its report overflows the
// double fault stack, the push into that stack's guard page raises a page
// fault, delivering it on the same stack fails, and the CPU raises a second
// double fault, at the top of the double fault stack again. That handler
// must finish the broken report with its cause (double_fault.cpp), not halt
// in silence because a panic is already under way. The harness checks the
// report (harness/test_06_overflow.py).
//
// The report needs far less than the 16 KiB of the stack, so the test
// leaves it little: a handler of the test's takes the first double fault,
// gives the vector back to the kernel's handler, and calls that with the
// stack pointer a few hundred bytes above the guard page. The kernel's own
// handler then reports both double faults.

#include <stdint.h>

#include "exceptions.h"
#include "kernel_test.h"
#include "stack_overflow.h"
#include "tss.h"

namespace {

// Room for the handler to start, not for its report.
constexpr uint64_t kLittleStack = 256;

ExceptionHandler kernels_double_fault_handler = nullptr;

// Calls handler(frame) with RSP at stack_top, which must be 16-byte
// aligned, as the ABI wants it before a call. It does not come back: the
// kernel's double fault handler panics.
[[noreturn]] void call_on_stack(uint64_t stack_top, ExceptionHandler handler,
                                ExceptionFrame& frame) {
    asm volatile(
        "mov %0, %%rsp\n\t"
        "call *%1"
        :
        : "r"(stack_top), "r"(handler), "D"(&frame)
        : "memory");
    __builtin_unreachable();
}

void report_with_little_stack(ExceptionFrame& frame) {
    set_exception_handler(ExceptionVector::DoubleFault, kernels_double_fault_handler);
    call_on_stack(double_fault_stack().begin + kLittleStack, kernels_double_fault_handler, frame);
}

}  // namespace

KERNEL_TEST_SHOULD_PANIC(double_fault_in_the_double_fault_report_finishes_the_report) {
    kernels_double_fault_handler =
        set_exception_handler(ExceptionVector::DoubleFault, report_with_little_stack);
    overflow_stack();
}
