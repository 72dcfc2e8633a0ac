#pragma once

// What an exception leaves on the stack by the time the C++ dispatcher
// runs: the general registers the entry stub saved, the vector and error
// code it pushed, and the frame the CPU pushed itself (Intel SDM vol. 3,
// 6.14.2). Lowest address first, so in the reverse order of the pushes.
//
// The stub passes a pointer to it: the handler reads the interrupted state
// where it lies, and what it writes there (a new RIP, say) is what the stub
// restores and iretq returns to. Older tutorials declare the handler with
// the struct by value instead and let the pushed registers stand in for
// the argument. But the System V ABI gives a callee the memory of a
// by-value argument to use as it likes, so the compiler may overwrite the
// saved registers before the stub pops them back.

#include <stddef.h>
#include <stdint.h>

struct ExceptionFrame {
    // Pushed by the stub in exception_entry.asm, rax first.
    uint64_t r15;
    uint64_t r14;
    uint64_t r13;
    uint64_t r12;
    uint64_t r11;
    uint64_t r10;
    uint64_t r9;
    uint64_t r8;
    uint64_t rbp;
    uint64_t rdi;
    uint64_t rsi;
    uint64_t rdx;
    uint64_t rcx;
    uint64_t rbx;
    uint64_t rax;

    // Pushed by the stub before the registers.
    uint64_t vector;
    // Pushed by the CPU for the exceptions that have one, by the stub (as
    // 0) for the others, so that every frame has the same shape.
    uint64_t error_code;

    // Pushed by the CPU. In 64-bit mode it always pushes SS and RSP, even
    // when the privilege level does not change.
    uint64_t rip;
    uint64_t cs;
    uint64_t rflags;
    uint64_t rsp;
    uint64_t ss;
};

// The layout exception_entry.asm relies on.
static_assert(offsetof(ExceptionFrame, r15) == 0 * 8);
static_assert(offsetof(ExceptionFrame, rax) == 14 * 8);
static_assert(offsetof(ExceptionFrame, vector) == 15 * 8);
static_assert(offsetof(ExceptionFrame, error_code) == 16 * 8);
static_assert(offsetof(ExceptionFrame, rip) == 17 * 8);
static_assert(offsetof(ExceptionFrame, ss) == 21 * 8);
static_assert(sizeof(ExceptionFrame) == 22 * 8);
// The CPU aligns the stack to 16 bytes before it pushes its frame (SDM
// 6.14.2). A frame of a whole number of 16-byte units therefore leaves the
// stack aligned where the stub calls the dispatcher, as the System V ABI
// requires of every call.
static_assert(sizeof(ExceptionFrame) % 16 == 0);
