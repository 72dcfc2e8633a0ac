#pragma once

// The kernel stack that boot.asm reserves, and the two guard pages below it.

#include <stdint.h>

#include "address_range.h"

// The stack grows down from end.
[[nodiscard]] AddressRange kernel_stack();
// The two pages right below the stack (boot.asm says why two).
[[nodiscard]] AddressRange kernel_stack_guard();

// Unmaps the guard pages, so that a stack overflow raises a page fault
// instead of overwriting the memory below the stack.
void install_kernel_stack_guard();
