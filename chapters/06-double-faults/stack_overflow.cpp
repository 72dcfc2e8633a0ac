#include "stack_overflow.h"

// Each call needs a frame of its own, for as long as the calls below it run:
// - The volatile local is stored in the frame before the call and read
//   after it returns, work the compiler must do. So the call is not the
//   last thing the function does, and cannot become a jump that reuses one
//   frame forever (tail-call elimination); nor can the recursion become a
//   loop over an accumulator, as clang does with `return 1 + f(n + 1)`.
// - noinline keeps the compiler from folding several levels into one frame.
// - The depth bound gives the recursion an end the compiler can see. A
//   function that calls itself on every path is a bug in any other program,
//   and GCC (-Winfinite-recursion, part of -Wall) and clang reject it.
[[gnu::noinline]] void overflow_stack(uint64_t depth) {
    volatile uint64_t depth_in_this_frame = depth;
    if (depth < UINT64_MAX) {
        overflow_stack(depth + 1);
    }
    depth_in_this_frame = depth_in_this_frame + 1;
}
