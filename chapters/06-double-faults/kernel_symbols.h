#pragma once

// Names for code addresses, so that a fault report can say where the CPU
// was ("divide_by_zero+0x4") and not only a number.
//
// The linker writes a symbol table into kernel.elf (.symtab, with the names
// in .strtab). No program header loads it, but GRUB's multiboot2 command
// loads every section anyway, puts those that have no load address into
// free memory next to the kernel (QEMU shows some even in the gaps between
// its segments), and passes all section headers, their new addresses
// filled in, in the boot information. So the table is there without a
// second link step. A later chapter that hands out free memory must keep
// off these sections, as off the boot information itself.

#include <stdint.h>

#include "multiboot2.h"

struct SymbolLocation {
    const char* name;  // nullptr when no function contains the address
    uint64_t offset;   // from the start of the function
};

// Finds the symbol table through the boot information. Until this has run,
// or if the loader passed no sections, every lookup finds nothing.
void load_kernel_symbols(const multiboot2::BootInformation& boot_information);

// The function whose code contains `address`. The name is as the compiler
// wrote it: C++ names are mangled (_ZN12_GLOBAL__N_114divide_by_zeroEv is
// divide_by_zero() in an anonymous namespace), extern "C" ones are not.
[[nodiscard]] SymbolLocation find_kernel_symbol(uint64_t address);
