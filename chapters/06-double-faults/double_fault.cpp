#include "double_fault.h"

#include "error_codes.h"
#include "exception_report.h"
#include "exceptions.h"
#include "kernel_stack.h"
#include "paging.h"
#include "panic.h"
#include "print.h"
#include "serial_console.h"
#include "tss.h"

void write_double_fault_cause(OutputSink& output, uint64_t cr2) {
    if (kernel_stack_guard().contains(cr2)) {
        format_to(output, "  The kernel stack overflowed into its guard page, below {:016x}.",
                  kernel_stack().begin);
    } else if (double_fault_stack_guard_page().contains(cr2)) {
        // Code running on this very stack overflowed it, most likely a
        // double fault's report (finish_interrupted_report); the CPU
        // started this double fault at its top again.
        format_to(output, "  The double fault stack overflowed into its guard page, below {:016x}.",
                  double_fault_stack().begin);
    } else {
        format_to(output, "  An exception arrived while the CPU was delivering another.");
    }
}

namespace {

uint64_t current_stack_pointer() {
    uint64_t rsp;
    asm volatile("mov %%rsp, %0" : "=r"(rsp));
    return rsp;
}

// Set while the handler reports a double fault: one that arrives meanwhile
// was raised by the report itself.
constinit bool reporting = false;

// One of the panic's outputs: a heading of the panic's own form, since the
// broken report may have stopped before its own, and the cause.
template <typename Output>
void write_interrupted_report_end(Output& output, uint64_t cr2) {
    if (!output.at_line_start()) {
        output.put_char('\n');
    }
    format_to(output, "KERNEL PANIC at {}:{}: double fault while reporting a double fault\n",
              __builtin_FILE(), __builtin_LINE());
    write_double_fault_cause(output, cr2);
}

// A double fault raised by the report of another, most likely because the
// report overflowed the double fault stack: the CPU started this handler at
// the top of that stack again, over the first one's frames, which will
// never run again. The first report's panic is under way, so begin_panic
// would halt at once, leaving no word of why the report broke off: this
// one adds its cause to the panic in progress, on both outputs, and ends it.
[[noreturn]] void finish_interrupted_report(uint64_t cr2) {
    write_interrupted_report_end(screen_for_panic(), cr2);
    write_interrupted_report_end(serial_console_for_panic(), cr2);
    finish_panic();
}

// The report adds what only a double fault needs: the stack the handler
// runs on, which shows that the switch happened, and CR2, the address of
// the latest page fault, which is often one of the two exceptions.
[[noreturn]] void report_double_fault(ExceptionFrame& frame) {
    // First, before anything else can fault and change it.
    const uint64_t cr2 = page_fault_address();
    if (reporting) {
        finish_interrupted_report(cr2);
    }
    reporting = true;
    const uint64_t handler_stack_pointer = current_stack_pointer();
    const AddressRange stack = double_fault_stack();

    OutputSink& output = begin_panic(__builtin_FILE(), __builtin_LINE());
    format_to(output, "double fault\n");
    write_exception_report(output, frame);
    format_to(output, "  cr2={:016x} handler_rsp={:016x}\n", cr2, handler_stack_pointer);
    format_to(output, "  double_fault_stack={:016x}-{:016x}\n", stack.begin, stack.end);
    write_double_fault_cause(output, cr2);
    finish_panic();
}

}  // namespace

void initialize_double_fault_handler() {
    unmap_page(double_fault_stack_guard_page().begin);
    set_exception_stack(ExceptionVector::DoubleFault, kDoubleFaultStack);
    set_exception_handler(ExceptionVector::DoubleFault, report_double_fault);
}
