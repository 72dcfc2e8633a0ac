#include "double_fault.h"

#include "error_codes.h"
#include "exception_report.h"
#include "exceptions.h"
#include "kernel_stack.h"
#include "paging.h"
#include "panic.h"
#include "tss.h"

namespace {

uint64_t current_stack_pointer() {
    uint64_t rsp;
    asm volatile("mov %%rsp, %0" : "=r"(rsp));
    return rsp;
}

// The report adds what only a double fault needs: the stack the handler
// runs on, which shows that the switch happened, and CR2, the address of
// the latest page fault, which is often one of the two exceptions.
[[noreturn]] void report_double_fault(ExceptionFrame& frame) {
    // First, before anything else can fault and change it.
    const uint64_t cr2 = page_fault_address();
    const uint64_t handler_stack_pointer = current_stack_pointer();
    const AddressRange stack = double_fault_stack();

    OutputSink& output = begin_panic(__builtin_FILE(), __builtin_LINE());
    format_to(output, "double fault\n");
    write_exception_report(output, frame);
    format_to(output, "  cr2={:016x} handler_rsp={:016x}\n", cr2, handler_stack_pointer);
    format_to(output, "  double_fault_stack={:016x}-{:016x}\n", stack.begin, stack.end);
    if (kernel_stack_guard_page().contains(cr2)) {
        format_to(output, "  The kernel stack overflowed into its guard page, below {:016x}.",
                  kernel_stack().begin);
    } else if (double_fault_stack_guard_page().contains(cr2)) {
        // Something running on this very stack, an earlier double fault's
        // handler, overflowed it; the CPU started this one at its top again.
        format_to(output, "  The double fault stack overflowed into its guard page, below {:016x}.",
                  stack.begin);
    } else {
        format_to(output, "  An exception arrived while the CPU was delivering another.");
    }
    finish_panic();
}

}  // namespace

void initialize_double_fault_handler() {
    unmap_page(double_fault_stack_guard_page().begin);
    set_exception_stack(ExceptionVector::DoubleFault, kDoubleFaultStack);
    set_exception_handler(ExceptionVector::DoubleFault, report_double_fault);
}
