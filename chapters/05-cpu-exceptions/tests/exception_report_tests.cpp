// Unit tests of the exception report, of frames made up in memory: error
// codes that none of the exceptions the test kernels raise carries, as the
// kernel runs no user code and QEMU's CPU has neither SGX nor AMD's
// reverse map table, and the heading of each vector exceptions.h names.
// The exceptions that are raised for real are checked in
// harness/test_05_cpu_exceptions.py.

#include <stddef.h>
#include <stdint.h>

#include "exception_frame.h"
#include "exception_report.h"
#include "exceptions.h"
#include "kernel_test.h"
#include "text_sink.h"

namespace {

struct ReportStart {
    char text[256] = {};
};

// The first `line_count` lines of the report of a frame that holds only a
// vector and an error code: its heading and the lines of the error code.
// The rest would show the made-up registers, and CR2 as the CPU has it.
// Cut short where `text` is full, keeping its terminating zero.
ReportStart report_start(ExceptionVector vector, uint64_t error_code, size_t line_count) {
    ExceptionFrame frame{};
    frame.vector = static_cast<uint8_t>(vector);
    frame.error_code = error_code;
    TextSink report;
    write_exception_report(report, frame);

    ReportStart start;
    size_t lines = 0;
    for (size_t i = 0; i + 1 < sizeof(start.text) && report.text()[i] != '\0' && lines < line_count;
         ++i) {
        start.text[i] = report.text()[i];
        lines += report.text()[i] == '\n' ? 1 : 0;
    }
    return start;
}

}  // namespace

// The CPU pushes a 32-bit error code (SDM 6.13), and a page fault's uses
// bits beyond the first 16: bit 15 for SGX, bit 31 on AMD for the reverse
// map table of SEV-SNP. The report shows them all, and U, bit 2, which no
// fault of kernel code sets.
KERNEL_TEST(exception_report_shows_all_32_bits_of_a_page_fault_error_code) {
    EXPECT_EQ(report_start(ExceptionVector::PageFault, 0x8000'0005, 3).text,
              "EXCEPTION 14 #PF Page Fault\n"
              "  error_code=0x80000005\n"
              "    present=1 write=0 user=1 reserved_bit=0 instruction_fetch=0\n");
}

// EXT, bit 0, is set when the CPU faulted while it delivered an event from
// outside the program: here a hardware interrupt on vector 32, whose gate
// is all zero (IDT, bit 1), as every gate past the exceptions is. No test
// kernel takes a hardware interrupt.
KERNEL_TEST(exception_report_shows_an_external_event) {
    EXPECT_EQ(report_start(ExceptionVector::GeneralProtection, 32 << 3 | 0b011, 2).text,
              "EXCEPTION 13 #GP General Protection\n"
              "  error_code=0x00000103 external=1 table=IDT index=32\n");
}

// Each name of exceptions.h is the vector the SDM gives that exception, as
// the report's heading (which the harness holds against its own copy of the
// SDM's table) shows it. A handler installed for ExceptionVector::Overflow
// must be the one that #OF runs: most of the names are used by no test
// kernel, so nothing else would notice one that named its neighbour.
KERNEL_TEST(exception_report_headings_of_the_named_vectors) {
    struct NamedVector {
        ExceptionVector vector;
        const char* heading;
    };
    constexpr NamedVector kNamedVectors[] = {
        {ExceptionVector::DivideError, "EXCEPTION 0 #DE Divide Error\n"},
        {ExceptionVector::Debug, "EXCEPTION 1 #DB Debug\n"},
        {ExceptionVector::NonMaskableInterrupt, "EXCEPTION 2 Non-Maskable Interrupt\n"},
        {ExceptionVector::Breakpoint, "EXCEPTION 3 #BP Breakpoint\n"},
        {ExceptionVector::Overflow, "EXCEPTION 4 #OF Overflow\n"},
        {ExceptionVector::BoundRangeExceeded, "EXCEPTION 5 #BR BOUND Range Exceeded\n"},
        {ExceptionVector::InvalidOpcode, "EXCEPTION 6 #UD Invalid Opcode\n"},
        {ExceptionVector::DeviceNotAvailable, "EXCEPTION 7 #NM Device Not Available\n"},
        {ExceptionVector::DoubleFault, "EXCEPTION 8 #DF Double Fault\n"},
        {ExceptionVector::CoprocessorSegmentOverrun,
         "EXCEPTION 9 Coprocessor Segment Overrun (reserved)\n"},
        {ExceptionVector::InvalidTss, "EXCEPTION 10 #TS Invalid TSS\n"},
        {ExceptionVector::SegmentNotPresent, "EXCEPTION 11 #NP Segment Not Present\n"},
        {ExceptionVector::StackSegmentFault, "EXCEPTION 12 #SS Stack-Segment Fault\n"},
        {ExceptionVector::GeneralProtection, "EXCEPTION 13 #GP General Protection\n"},
        {ExceptionVector::PageFault, "EXCEPTION 14 #PF Page Fault\n"},
        {ExceptionVector::X87FloatingPointError, "EXCEPTION 16 #MF x87 Floating-Point Error\n"},
        {ExceptionVector::AlignmentCheck, "EXCEPTION 17 #AC Alignment Check\n"},
        {ExceptionVector::MachineCheck, "EXCEPTION 18 #MC Machine Check\n"},
        {ExceptionVector::SimdFloatingPointException,
         "EXCEPTION 19 #XM SIMD Floating-Point Exception\n"},
        {ExceptionVector::VirtualizationException, "EXCEPTION 20 #VE Virtualization Exception\n"},
        {ExceptionVector::ControlProtection, "EXCEPTION 21 #CP Control Protection\n"},
        {ExceptionVector::HypervisorInjection,
         "EXCEPTION 28 #HV Hypervisor Injection Exception (AMD)\n"},
        {ExceptionVector::VmmCommunication, "EXCEPTION 29 #VC VMM Communication Exception (AMD)\n"},
        {ExceptionVector::SecurityException, "EXCEPTION 30 #SX Security Exception (AMD)\n"},
    };
    for (const NamedVector& named : kNamedVectors) {
        EXPECT_EQ(report_start(named.vector, 0, 1).text, named.heading);
    }
}
