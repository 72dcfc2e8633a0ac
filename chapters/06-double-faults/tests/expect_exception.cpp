#include "expect_exception.h"

#include <stddef.h>

#include "error_codes.h"
#include "exception_report.h"
#include "serial_console.h"

namespace {

// Written by call_with_recovery_point (recovery_point.asm), in this order.
struct RecoveryPoint {
    uint64_t rbx;
    uint64_t rbp;
    uint64_t r12;
    uint64_t r13;
    uint64_t r14;
    uint64_t r15;
    uint64_t rsp;
    uint64_t rip;
};

static_assert(offsetof(RecoveryPoint, rbx) == 0);
static_assert(offsetof(RecoveryPoint, r15) == 40);
static_assert(offsetof(RecoveryPoint, rsp) == 48);
static_assert(offsetof(RecoveryPoint, rip) == 56);

// One expectation at a time: tests run one after the other on one CPU.
constinit RecoveryPoint recovery_point{};
constinit CaughtException caught;

void record_and_recover(ExceptionFrame& frame) {
    caught.cr2 = page_fault_address();
    caught.frame = frame;
    caught.frame_address = reinterpret_cast<uint64_t>(&frame);
    {
        LockedSerialConsole serial;
        write_exception_report(*serial, frame);
    }

    frame.rbx = recovery_point.rbx;
    frame.rbp = recovery_point.rbp;
    frame.r12 = recovery_point.r12;
    frame.r13 = recovery_point.r13;
    frame.r14 = recovery_point.r14;
    frame.r15 = recovery_point.r15;
    frame.rsp = recovery_point.rsp;
    frame.rip = recovery_point.rip;
    frame.rax = 1;  // call_with_recovery_point returns true
}

}  // namespace

extern "C" bool call_with_recovery_point(void (*body)(), RecoveryPoint* point);

CaughtException run_expecting_exception(ExceptionVector vector, void (*body)()) {
    caught = CaughtException{};
    const ExceptionHandler previous = set_exception_handler(vector, record_and_recover);
    caught.raised = call_with_recovery_point(body, &recovery_point);
    set_exception_handler(vector, previous);
    return caught;
}
