#include "kernel_stack.h"

#include "paging.h"

// Labels in boot.asm: only their addresses mean something.
extern "C" uint8_t stack_guard[];
extern "C" uint8_t stack_bottom[];
extern "C" uint8_t stack_top[];

AddressRange kernel_stack() {
    return {reinterpret_cast<uintptr_t>(stack_bottom), reinterpret_cast<uintptr_t>(stack_top)};
}

AddressRange kernel_stack_guard() {
    return {reinterpret_cast<uintptr_t>(stack_guard), reinterpret_cast<uintptr_t>(stack_bottom)};
}

void install_kernel_stack_guard() {
    const AddressRange guard = kernel_stack_guard();
    for (uintptr_t page = guard.begin; page < guard.end; page += kPageSize) {
        unmap_page(page);
    }
}
