#include "kernel_symbols.h"

#include <stddef.h>

#include "elf64.h"

namespace {

// The ELF-sections tag. The specification's table shows 16-bit count,
// entry size and index fields, but GRUB writes 32-bit ones (struct
// multiboot_tag_elf_sections in its multiboot2.h), and GRUB is what boots
// this kernel: checked in QEMU, the section headers begin at byte 20.
struct ElfSectionsTag {
    multiboot2::Tag tag;
    uint32_t section_count;
    uint32_t section_header_size;
    uint32_t section_name_table_index;
    // The section headers follow.
};

static_assert(sizeof(ElfSectionsTag) == 20);

// A copy, not a reference: the headers begin at byte 20 of a tag that is
// 8-byte aligned, so they are 4-byte aligned, and reading a 64-bit field
// in place would be a misaligned access, which C++ leaves undefined (the
// UBSan build reports it). Copying the bytes needs no alignment.
Elf64SectionHeader section_header(const ElfSectionsTag& tag, uint32_t index) {
    const auto* headers = reinterpret_cast<const uint8_t*>(&tag) + sizeof(ElfSectionsTag);
    Elf64SectionHeader header;
    __builtin_memcpy(&header, headers + index * tag.section_header_size, sizeof(header));
    return header;
}

const Elf64Symbol* symbols = nullptr;
size_t symbol_count = 0;
const char* symbol_names = nullptr;

}  // namespace

void load_kernel_symbols(const multiboot2::BootInformation& boot_information) {
    for (const multiboot2::Tag& tag : boot_information) {
        if (tag.type != multiboot2::TagType::elf_sections) {
            continue;
        }
        const auto& sections = reinterpret_cast<const ElfSectionsTag&>(tag);
        for (uint32_t index = 0; index < sections.section_count; ++index) {
            const Elf64SectionHeader table = section_header(sections, index);
            // A table that GRUB did not load has no address.
            if (table.is(ElfSectionType::SymbolTable) && table.address != 0 &&
                table.link < sections.section_count) {
                symbols = reinterpret_cast<const Elf64Symbol*>(table.address);
                symbol_count = table.size / sizeof(Elf64Symbol);
                symbol_names =
                    reinterpret_cast<const char*>(section_header(sections, table.link).address);
                return;
            }
        }
    }
}

SymbolLocation find_kernel_symbol(uint64_t address) {
    for (size_t index = 0; index < symbol_count; ++index) {
        const Elf64Symbol& symbol = symbols[index];
        if (symbol.type() == ElfSymbolType::Function && address >= symbol.value &&
            address - symbol.value < symbol.size) {
            return {symbol_names + symbol.name, address - symbol.value};
        }
    }
    return {nullptr, 0};
}
