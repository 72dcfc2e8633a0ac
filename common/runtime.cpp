// The support a C++ compiler expects from its runtime library, which a
// freestanding kernel has to provide itself. No chapter teaches this file;
// chapter 1 explains why each function is here.

#include <stddef.h>
#include <stdint.h>

extern "C" {

// The compiler may emit calls to these four even where the source has no
// call: for copying a large struct, zeroing an array, or a loop it
// recognises. They must exist, and must not be written with loops the
// compiler turns back into calls to themselves (the build passes
// -ffreestanding, and -fno-tree-loop-distribute-patterns to GCC, for that).

void* memcpy(void* destination, const void* source, size_t count) {
    auto* to = static_cast<unsigned char*>(destination);
    const auto* from = static_cast<const unsigned char*>(source);
    for (size_t i = 0; i < count; ++i) {
        to[i] = from[i];
    }
    return destination;
}

void* memmove(void* destination, const void* source, size_t count) {
    auto* to = static_cast<unsigned char*>(destination);
    const auto* from = static_cast<const unsigned char*>(source);
    // Copy backwards when the destination overlaps the end of the source,
    // so that no byte is overwritten before it has been read.
    if (to > from && to < from + count) {
        for (size_t i = count; i > 0; --i) {
            to[i - 1] = from[i - 1];
        }
    } else {
        for (size_t i = 0; i < count; ++i) {
            to[i] = from[i];
        }
    }
    return destination;
}

void* memset(void* destination, int value, size_t count) {
    auto* to = static_cast<unsigned char*>(destination);
    for (size_t i = 0; i < count; ++i) {
        to[i] = static_cast<unsigned char>(value);
    }
    return destination;
}

int memcmp(const void* left, const void* right, size_t count) {
    const auto* a = static_cast<const unsigned char*>(left);
    const auto* b = static_cast<const unsigned char*>(right);
    for (size_t i = 0; i < count; ++i) {
        if (a[i] != b[i]) {
            return a[i] < b[i] ? -1 : 1;
        }
    }
    return 0;
}

// Called through the vtable slot of a pure virtual function, which only
// happens if a constructor or destructor calls one. There is nothing to
// recover, so stop the CPU where a debugger can find it.
[[noreturn]] void __cxa_pure_virtual() {
    for (;;) {
        asm volatile("cli; hlt");
    }
}

// A global object with a destructor has it registered here, to be run when
// the program exits. A kernel never exits, so there is nothing to record.
void* __dso_handle = nullptr;

int __cxa_atexit(void (*)(void*), void*, void*) {
    return 0;
}

}  // extern "C"
