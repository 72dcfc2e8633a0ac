#pragma once

// The kernel stack that boot.asm reserves, and the guard page below it.

#include <stdint.h>

#include "address_range.h"

// The stack grows down from end.
[[nodiscard]] AddressRange kernel_stack();
// The page right below the stack.
[[nodiscard]] AddressRange kernel_stack_guard_page();

// Unmaps the guard page, so that a stack overflow raises a page fault
// instead of overwriting the memory below the stack.
void install_kernel_stack_guard_page();
