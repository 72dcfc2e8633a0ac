#include "exceptions.h"

#include "exception_report.h"
#include "idt.h"
#include "panic.h"
#include "print.h"
#include "serial_console.h"

// The entry stubs of exception_entry.asm, in vector order.
extern "C" const uint64_t exception_entry_points[kExceptionVectorCount];

namespace {

// An exception the kernel cannot handle. Its report is the panic message:
// one report, in the panic's colours, wherever a panic is shown.
[[noreturn]] void report_and_panic(ExceptionFrame& frame) {
    OutputSink& output = begin_panic(__builtin_FILE(), __builtin_LINE());
    format_to(output, "unhandled CPU exception\n");
    write_exception_report(output, frame);
    finish_panic();
}

// int3 is how a debugger stops a program, and no error: say so and go on.
// It is a trap, so the saved RIP already points past the one-byte int3,
// and returning resumes with the next instruction.
//
// An int3 can stop code in the middle of a print, with the output's lock
// held: waiting for it would wait forever, since the holder runs again only
// when this handler returns. So the report goes only where no one is
// printing.
void report_breakpoint(ExceptionFrame& frame) {
    if (!screen_is_locked()) {
        LockedScreen screen;
        write_short_exception_report(*screen, frame);
    }
    if (!serial_console_is_locked()) {
        LockedSerialConsole serial;
        write_short_exception_report(*serial, frame);
    }
}

// An array wrapped in a struct, so that a constexpr function can return it.
struct HandlerTable {
    ExceptionHandler of_vector[kExceptionVectorCount];
};

constexpr HandlerTable default_handlers() {
    HandlerTable table{};
    for (ExceptionHandler& handler : table.of_vector) {
        handler = report_and_panic;
    }
    table.of_vector[static_cast<uint8_t>(ExceptionVector::Breakpoint)] = report_breakpoint;
    return table;
}

// constinit: complete before any code runs, whatever order the global
// constructors run in.
constinit HandlerTable handlers = default_handlers();

constinit InterruptDescriptorTable idt;

}  // namespace

// Called by exception_entry.asm with the frame on the stack.
extern "C" void dispatch_exception(ExceptionFrame* frame) {
    handlers.of_vector[frame->vector](*frame);
}

void initialize_exceptions() {
    for (uint8_t vector = 0; vector < kExceptionVectorCount; ++vector) {
        idt.set_gate(vector, exception_entry_points[vector]);
    }
    idt.load();
}

ExceptionHandler set_exception_handler(ExceptionVector vector, ExceptionHandler handler) {
    const auto index = static_cast<uint8_t>(vector);
    const ExceptionHandler previous = handlers.of_vector[index];
    handlers.of_vector[index] = handler;
    return previous;
}

// The CPU reads a gate from the table each time it delivers its vector, so
// a gate changed in the loaded table takes effect at once.
void set_exception_stack(ExceptionVector vector, InterruptStack stack) {
    const auto index = static_cast<uint8_t>(vector);
    idt.set_gate(index, exception_entry_points[index], stack);
}
