// A stack overflow in frames larger than the guard pages. Each call of
// overflow_in_large_frames makes room for a 25,000-byte local in one
// subtraction from RSP: more than the 16 KiB stack and its two 4 KiB guard
// pages together, so that without stack clash protection
// (common/toolchain.mk) the first frame's lowest byte lies below both guard
// pages wherever the stack pointer started, and its first write lands in
// the memory below. With it, the function touches each page of its frame
// from the top down, and the first touch below the stack is in the guard
// page: a page fault, then the double fault of an ordinary overflow, whose
// report the harness checks (harness/test_06_overflow.py).

#include <stdint.h>

#include "kernel_test.h"

namespace {

constexpr size_t kLargeFrame = 25'000;  // the stack and its guard pages are 24 KiB

}  // namespace

namespace {

// Hands the frame's address to code the compiler cannot see into, which
// might read or write any of it: so the whole array must exist in memory,
// and hold what was written, at this point.
void keep_in_memory(uint8_t* frame) {
    asm volatile("" : : "r"(frame) : "memory");
}

}  // namespace

// As overflow_stack (stack_overflow.cpp), with a large frame that must stay
// whole until the calls below return. Its lowest byte is written first, as
// the bug would have it. The depth bound gives the recursion an end the
// compiler can see. Not in a namespace, and with C linkage, so that the
// report names it plainly.
extern "C" [[gnu::noinline]] void overflow_in_large_frames(uint64_t depth) {
    uint8_t frame[kLargeFrame];
    frame[0] = static_cast<uint8_t>(depth);
    keep_in_memory(frame);
    if (depth < UINT64_MAX) {
        overflow_in_large_frames(depth + 1);
    }
    keep_in_memory(frame);
}

KERNEL_TEST_SHOULD_PANIC(large_frames_overflow_into_the_guard_page_and_panic) {
    overflow_in_large_frames(0);
}
