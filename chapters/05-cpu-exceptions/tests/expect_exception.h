#pragma once

// For tests that raise an exception on purpose, look at what the handler
// saw, and carry on: the kernel's try/catch (the build has no C++
// exceptions, and these are CPU exceptions anyway).
//
//     const CaughtException caught =
//         run_expecting_exception(ExceptionVector::InvalidOpcode, raise_invalid_opcode);
//     EXPECT_TRUE(caught.raised);
//     EXPECT_EQ(caught.frame.vector, 6);
//
// While `body` runs, the expected vector has a handler of its own instead
// of the kernel's. It keeps a copy of the frame, prints the full exception
// report on serial for the harness to check field by field, and then
// resumes execution as if `body` had returned: it writes the registers and
// return address saved before the call into the frame, which the entry
// stub's iretq then returns to. Linux handles a fault in the few
// instructions allowed to fault (copy_from_user, say) the same way: its
// exception table maps the faulting RIP to a fixup address, and the
// handler writes that into the frame.
//
// Any other exception in `body` still goes to its normal handler, so an
// unexpected fault panics and fails the test.

#include <stdint.h>

#include "exception_frame.h"
#include "exceptions.h"

struct CaughtException {
    bool raised = false;
    ExceptionFrame frame{};  // as the handler found it
    uint64_t cr2 = 0;        // read first thing in the handler
};

[[nodiscard]] CaughtException run_expecting_exception(ExceptionVector vector, void (*body)());

// The 15 general registers in the order a report shows them: rax, rbx,
// rcx, rdx, rsi, rdi, rbp, r8-r15.
struct GeneralRegisters {
    uint64_t values[15];

    bool operator==(const GeneralRegisters&) const = default;
};

[[nodiscard]] GeneralRegisters general_registers_of(const ExceptionFrame& frame);

// The same, for a body that loads `loaded` into the general registers
// before it raises the exception, and a test that checks the frame's
// against them. When the frame holds each as loaded, the report on serial
// leaves them out: its last five lines, which made 12 of the 27 KB that
// exception_tests printed, and a byte on serial costs QEMU a system call.
// When one differs, the report is whole, and the harness holds it against
// what the CPU had.
[[nodiscard]] CaughtException run_expecting_exception(ExceptionVector vector, void (*body)(),
                                                      const GeneralRegisters& loaded);
