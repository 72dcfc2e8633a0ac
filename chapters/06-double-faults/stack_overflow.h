#pragma once

#include <stdint.h>

// Overflows the kernel stack on purpose: calls itself, one stack frame
// deeper each time, until the stack runs into its guard page. It would
// return only after 2^64 calls, which no stack holds. Not in a namespace,
// and with C linkage, so that a fault report names it plainly.
extern "C" void overflow_stack(uint64_t depth = 0);
