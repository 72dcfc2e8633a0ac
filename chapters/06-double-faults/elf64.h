#pragma once

// The two ELF-64 structures the kernel reads about itself: section headers
// and symbols (System V ABI, "ELF-64 Object File Format", sections 4 and 6).

#include <stddef.h>
#include <stdint.h>

enum class ElfSectionType : uint32_t {
    SymbolTable = 2,  // SHT_SYMTAB
    StringTable = 3,  // SHT_STRTAB
};

struct Elf64SectionHeader {
    uint32_t name;  // offset of the section's name in the section name table
    uint32_t type;
    uint64_t flags;
    uint64_t address;  // where the section is in memory
    uint64_t file_offset;
    uint64_t size;  // in bytes
    uint32_t link;  // for a symbol table: the index of its string table
    uint32_t info;
    uint64_t alignment;
    uint64_t entry_size;  // for a table: the size of one entry

    [[nodiscard]] bool is(ElfSectionType section_type) const {
        return type == static_cast<uint32_t>(section_type);
    }
};

static_assert(sizeof(Elf64SectionHeader) == 64);
static_assert(offsetof(Elf64SectionHeader, address) == 16);
static_assert(offsetof(Elf64SectionHeader, size) == 32);
static_assert(offsetof(Elf64SectionHeader, link) == 40);
static_assert(offsetof(Elf64SectionHeader, entry_size) == 56);

enum class ElfSymbolType : uint8_t {
    Function = 2,  // STT_FUNC
};

struct Elf64Symbol {
    uint32_t name;  // offset of the symbol's name in the linked string table
    uint8_t info;   // type in the low four bits, binding in the high four
    uint8_t other;
    uint16_t section_index;
    uint64_t value;  // for a function: its address
    uint64_t size;   // for a function: the length of its code in bytes

    [[nodiscard]] ElfSymbolType type() const { return static_cast<ElfSymbolType>(info & 0xf); }
};

static_assert(sizeof(Elf64Symbol) == 24);
static_assert(offsetof(Elf64Symbol, info) == 4);
static_assert(offsetof(Elf64Symbol, section_index) == 6);
static_assert(offsetof(Elf64Symbol, value) == 8);
static_assert(offsetof(Elf64Symbol, size) == 16);
