#pragma once

#include <stdint.h>

// A range of addresses from begin up to, not including, end: a stack, a
// page, the memory of an object.
struct AddressRange {
    uintptr_t begin;
    uintptr_t end;

    [[nodiscard]] constexpr bool contains(uintptr_t address) const {
        return begin <= address && address < end;
    }
};
