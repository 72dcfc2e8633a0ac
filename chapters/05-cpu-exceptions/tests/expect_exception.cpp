#include "expect_exception.h"

#include <stddef.h>

#include "error_codes.h"
#include "exception_report.h"
#include "output_sink.h"
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

// A report held in memory, to be sent without its general registers: the
// lines from "  rax=" on (exception_report.h), which end every full report.
class ReportText final : public OutputSink {
  public:
    void put_char(char character) override {
        // Keep the last byte for the terminating zero. A full report has
        // some 600 characters.
        if (length_ + 1 < kCapacity) {
            text_[length_++] = character;
        }
    }

    const char* without_general_registers() {
        constexpr char kFirstRegisters[] = "\n  rax=";
        for (size_t start = 0; start < length_; ++start) {
            size_t matched = 0;
            while (kFirstRegisters[matched] != '\0' && start + matched < length_ &&
                   text_[start + matched] == kFirstRegisters[matched]) {
                ++matched;
            }
            if (kFirstRegisters[matched] == '\0') {
                length_ = start + 1;  // the heading's and the frame's lines, each whole
                break;
            }
        }
        text_[length_] = '\0';
        return text_;
    }

  private:
    static constexpr size_t kCapacity = 1024;
    char text_[kCapacity] = {};
    size_t length_ = 0;
};

// One expectation at a time: tests run one after the other on one CPU.
constinit RecoveryPoint recovery_point{};
constinit CaughtException caught;
constinit const GeneralRegisters* loaded_registers = nullptr;

void report_on_serial(const ExceptionFrame& frame) {
    LockedSerialConsole serial;
    if (loaded_registers == nullptr || general_registers_of(frame) != *loaded_registers) {
        write_exception_report(*serial, frame);
        return;
    }
    ReportText report;
    write_exception_report(report, frame);
    format_to(*serial, "{}", report.without_general_registers());
}

void record_and_recover(ExceptionFrame& frame) {
    caught.cr2 = page_fault_address();
    caught.frame = frame;
    report_on_serial(frame);

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

GeneralRegisters general_registers_of(const ExceptionFrame& frame) {
    return {{frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp, frame.r8,
             frame.r9, frame.r10, frame.r11, frame.r12, frame.r13, frame.r14, frame.r15}};
}

CaughtException run_expecting_exception(ExceptionVector vector, void (*body)(),
                                        const GeneralRegisters& loaded) {
    loaded_registers = &loaded;
    const CaughtException result = run_expecting_exception(vector, body);
    loaded_registers = nullptr;
    return result;
}
