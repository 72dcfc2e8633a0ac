#pragma once

// CPU exceptions: the 32 vectors (0-31) that the architecture reserves for
// faults, traps and aborts the CPU raises itself (Intel SDM vol. 3, 6.2 and
// table 6-1). Each vector has a handler, a C++ function that gets the
// interrupted state as an ExceptionFrame. A handler that returns resumes
// the interrupted code where the frame's RIP points.

#include <stdint.h>

#include "exception_frame.h"
#include "idt.h"

enum class ExceptionVector : uint8_t {
    DivideError = 0,
    Debug = 1,
    NonMaskableInterrupt = 2,
    Breakpoint = 3,
    Overflow = 4,
    BoundRangeExceeded = 5,
    InvalidOpcode = 6,
    DeviceNotAvailable = 7,
    DoubleFault = 8,
    CoprocessorSegmentOverrun = 9,
    InvalidTss = 10,
    SegmentNotPresent = 11,
    StackSegmentFault = 12,
    GeneralProtection = 13,
    PageFault = 14,
    X87FloatingPointError = 16,
    AlignmentCheck = 17,
    MachineCheck = 18,
    SimdFloatingPointException = 19,
    VirtualizationException = 20,
    ControlProtection = 21,
    HypervisorInjection = 28,
    VmmCommunication = 29,
    SecurityException = 30,
};

constexpr uint8_t kExceptionVectorCount = 32;

using ExceptionHandler = void (*)(ExceptionFrame& frame);

// Fills IDT gates 0-31 with the entry stubs, loads the IDT, and installs
// the default handlers: the breakpoint handler reports and returns, every
// other vector reports and panics. Call it first thing in kernel_main, so
// that even an early fault is reported.
void initialize_exceptions();

// Replaces the handler of `vector` and returns the one it had, so that a
// caller can put it back. A handler that must not return (a double fault
// cannot be resumed) ends in panic() or halt_forever():
//
//     set_exception_handler(ExceptionVector::DoubleFault, report_double_fault);
ExceptionHandler set_exception_handler(ExceptionVector vector, ExceptionHandler handler);

// Makes the CPU switch to `stack`, an entry of the Interrupt Stack Table,
// before it delivers `vector`. The TSS that holds the table must be loaded,
// and the entry filled in, before the vector can arrive: the CPU takes
// whatever the entry holds as the new stack pointer.
void set_exception_stack(ExceptionVector vector, InterruptStack stack);
