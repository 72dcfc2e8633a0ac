// Unit tests of the exception report, of frames made up in memory: error
// codes that none of the exceptions the test kernels raise carries, as the
// kernel runs no user code and QEMU's CPU has neither SGX nor AMD's
// reverse map table. The exceptions that are raised for real are checked
// in harness/test_05_cpu_exceptions.py.

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
ReportStart report_start(ExceptionVector vector, uint64_t error_code, size_t line_count) {
    ExceptionFrame frame{};
    frame.vector = static_cast<uint8_t>(vector);
    frame.error_code = error_code;
    TextSink report;
    write_exception_report(report, frame);

    ReportStart start;
    size_t lines = 0;
    for (size_t i = 0; report.text()[i] != '\0' && lines < line_count; ++i) {
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
