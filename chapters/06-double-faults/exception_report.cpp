#include "exception_report.h"

#include "error_codes.h"
#include "exceptions.h"
#include "format.h"
#include "kernel_symbols.h"

namespace {

// What the error code of an exception holds, and so how to show it.
enum class ErrorCodeKind : uint8_t {
    None,       // the CPU pushes none
    Selector,   // a segment selector error code (error_codes.h)
    PageFault,  // the page-fault bits (error_codes.h)
    Number,     // only a number: always 0 (#DF, #AC), a cause (#CP), an exit code (#VC)
};

// How the SDM names an exception: a mnemonic such as "#PF" (empty for the
// vectors that have none) and a name such as "Page Fault".
struct ExceptionName {
    const char* mnemonic;
    const char* name;
};

struct ExceptionDescription {
    ExceptionName name;
    ErrorCodeKind error_code;
};

// Intel SDM vol. 3, table 6-1, and for vectors 28-30, which Intel reserves,
// the AMD64 Architecture Programmer's Manual vol. 2, table 8-1.
constexpr ExceptionDescription kExceptions[kExceptionVectorCount] = {
    {{"#DE", "Divide Error"}, ErrorCodeKind::None},
    {{"#DB", "Debug"}, ErrorCodeKind::None},
    {{"", "Non-Maskable Interrupt"}, ErrorCodeKind::None},
    {{"#BP", "Breakpoint"}, ErrorCodeKind::None},
    {{"#OF", "Overflow"}, ErrorCodeKind::None},
    {{"#BR", "BOUND Range Exceeded"}, ErrorCodeKind::None},
    {{"#UD", "Invalid Opcode"}, ErrorCodeKind::None},
    {{"#NM", "Device Not Available"}, ErrorCodeKind::None},
    {{"#DF", "Double Fault"}, ErrorCodeKind::Number},
    // Raised by 386-era CPUs with a separate x87 coprocessor, by none since.
    {{"", "Coprocessor Segment Overrun (reserved)"}, ErrorCodeKind::None},
    {{"#TS", "Invalid TSS"}, ErrorCodeKind::Selector},
    {{"#NP", "Segment Not Present"}, ErrorCodeKind::Selector},
    {{"#SS", "Stack-Segment Fault"}, ErrorCodeKind::Selector},
    {{"#GP", "General Protection"}, ErrorCodeKind::Selector},
    {{"#PF", "Page Fault"}, ErrorCodeKind::PageFault},
    {{"", "Reserved"}, ErrorCodeKind::None},
    {{"#MF", "x87 Floating-Point Error"}, ErrorCodeKind::None},
    {{"#AC", "Alignment Check"}, ErrorCodeKind::Number},
    {{"#MC", "Machine Check"}, ErrorCodeKind::None},
    {{"#XM", "SIMD Floating-Point Exception"}, ErrorCodeKind::None},
    {{"#VE", "Virtualization Exception"}, ErrorCodeKind::None},
    {{"#CP", "Control Protection"}, ErrorCodeKind::Number},
    {{"", "Reserved"}, ErrorCodeKind::None},
    {{"", "Reserved"}, ErrorCodeKind::None},
    {{"", "Reserved"}, ErrorCodeKind::None},
    {{"", "Reserved"}, ErrorCodeKind::None},
    {{"", "Reserved"}, ErrorCodeKind::None},
    {{"", "Reserved"}, ErrorCodeKind::None},
    {{"#HV", "Hypervisor Injection Exception (AMD)"}, ErrorCodeKind::None},
    {{"#VC", "VMM Communication Exception (AMD)"}, ErrorCodeKind::Number},
    {{"#SX", "Security Exception (AMD)"}, ErrorCodeKind::Number},
    {{"", "Reserved"}, ErrorCodeKind::None},
};

const char* table_name(SelectorErrorCode::Table table) {
    switch (table) {
        case SelectorErrorCode::Table::Gdt:
            return "GDT";
        case SelectorErrorCode::Table::Idt:
            return "IDT";
        case SelectorErrorCode::Table::Ldt:
            return "LDT";
    }
    return "?";
}

void write_heading(OutputSink& output, uint8_t vector) {
    const ExceptionName name = kExceptions[vector].name;
    format_to(output, "EXCEPTION {} {}{}{}", vector, name.mnemonic,
              name.mnemonic[0] != '\0' ? " " : "", name.name);
}

void write_location(OutputSink& output, uint64_t rip) {
    format_to(output, "rip={:016x} ", rip);
    const SymbolLocation symbol = find_kernel_symbol(rip);
    if (symbol.name != nullptr) {
        format_to(output, "<{}+{:x}>", symbol.name, symbol.offset);
    } else {
        format_to(output, "<unknown>");
    }
}

// An error code has at most 32 bits (SDM 6.13); 64-bit mode pushes it as 8
// bytes, like everything else.
void write_error_code(OutputSink& output, uint64_t error_code, ErrorCodeKind kind) {
    format_to(output, "  error_code={:08x}", static_cast<uint32_t>(error_code));
    if (kind == ErrorCodeKind::Selector) {
        const SelectorErrorCode selector(error_code);
        if (selector.names_selector()) {
            format_to(output, " external={} table={} index={}", selector.external() ? 1 : 0,
                      table_name(selector.table()), selector.index());
        } else {
            format_to(output, " selector=none");
        }
    } else if (kind == ErrorCodeKind::PageFault) {
        // A line of its own: with the error code it would not fit in 80
        // columns.
        const PageFaultErrorCode bits(error_code);
        format_to(output, "\n    present={} write={} user={} reserved_bit={} instruction_fetch={}",
                  bits.present() ? 1 : 0, bits.write() ? 1 : 0, bits.user() ? 1 : 0,
                  bits.reserved_bit() ? 1 : 0, bits.instruction_fetch() ? 1 : 0);
    }
    format_to(output, "\n");
}

void write_general_registers(OutputSink& output, const ExceptionFrame& frame) {
    format_to(output, "  rax={:016x} rbx={:016x} rcx={:016x}\n", frame.rax, frame.rbx, frame.rcx);
    format_to(output, "  rdx={:016x} rsi={:016x} rdi={:016x}\n", frame.rdx, frame.rsi, frame.rdi);
    format_to(output, "  rbp={:016x} r8={:016x} r9={:016x}\n", frame.rbp, frame.r8, frame.r9);
    format_to(output, "  r10={:016x} r11={:016x} r12={:016x}\n", frame.r10, frame.r11, frame.r12);
    format_to(output, "  r13={:016x} r14={:016x} r15={:016x}\n", frame.r13, frame.r14, frame.r15);
}

}  // namespace

// The vector comes from the entry stub, which pushes 0-31 only.
void write_exception_report(OutputSink& output, const ExceptionFrame& frame) {
    const auto vector = static_cast<uint8_t>(frame.vector);
    const ErrorCodeKind error_code = kExceptions[vector].error_code;
    // First, before any other memory access that might fault and change it.
    const uint64_t cr2 = error_code == ErrorCodeKind::PageFault ? page_fault_address() : 0;

    write_heading(output, vector);
    format_to(output, "\n");
    if (error_code != ErrorCodeKind::None) {
        write_error_code(output, frame.error_code, error_code);
    }
    if (error_code == ErrorCodeKind::PageFault) {
        format_to(output, "  cr2={:016x}\n", cr2);
    }
    format_to(output, "  ");
    write_location(output, frame.rip);
    format_to(output, "\n  cs={:04x} rflags={:016x} rsp={:016x} ss={:04x}\n", frame.cs,
              frame.rflags, frame.rsp, frame.ss);
    write_general_registers(output, frame);
}

void write_short_exception_report(OutputSink& output, const ExceptionFrame& frame) {
    write_heading(output, static_cast<uint8_t>(frame.vector));
    format_to(output, " at ");
    write_location(output, frame.rip);
    format_to(output, "\n");
}
