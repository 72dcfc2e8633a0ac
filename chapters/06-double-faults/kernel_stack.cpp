#include "kernel_stack.h"

#include "paging.h"

// Labels in boot.asm: only their addresses mean something.
extern "C" uint8_t stack_guard_page[];
extern "C" uint8_t stack_bottom[];
extern "C" uint8_t stack_top[];

AddressRange kernel_stack() {
    return {reinterpret_cast<uintptr_t>(stack_bottom), reinterpret_cast<uintptr_t>(stack_top)};
}

AddressRange kernel_stack_guard_page() {
    return {reinterpret_cast<uintptr_t>(stack_guard_page),
            reinterpret_cast<uintptr_t>(stack_bottom)};
}

void install_kernel_stack_guard_page() {
    unmap_page(kernel_stack_guard_page().begin);
}
