#include "kernel_symbols.h"

#include <stddef.h>

#include "elf64.h"
#include "identity_map.h"

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

// Whether the tag holds all the section headers it counts, each at least
// as large as the ELF header this code reads.
[[nodiscard]] bool holds_its_headers(const ElfSectionsTag& tag) {
    if (tag.tag.size < sizeof(ElfSectionsTag) ||
        tag.section_header_size < sizeof(Elf64SectionHeader)) {
        return false;
    }
    return uint64_t{tag.section_count} * tag.section_header_size <=
           tag.tag.size - sizeof(ElfSectionsTag);
}

// A table the kernel can read: loaded (GRUB gives a section it did not
// load no address) and inside the identity map, which is all the kernel
// can read (identity_map.h).
[[nodiscard]] bool is_readable(const Elf64SectionHeader& table) {
    return table.address != 0 && is_identity_mapped(table.address, table.size);
}

const Elf64Symbol* symbols = nullptr;
size_t symbol_count = 0;
const char* symbol_names = nullptr;
uint64_t symbol_names_size = 0;

}  // namespace

void load_kernel_symbols(const multiboot2::BootInformation& boot_information) {
    for (const multiboot2::Tag& tag : boot_information) {
        if (tag.type != multiboot2::TagType::elf_sections) {
            continue;
        }
        const auto& sections = reinterpret_cast<const ElfSectionsTag&>(tag);
        if (!holds_its_headers(sections)) {
            return;
        }
        for (uint32_t index = 0; index < sections.section_count; ++index) {
            const Elf64SectionHeader table = section_header(sections, index);
            if (!table.is(ElfSectionType::SymbolTable) || table.link >= sections.section_count) {
                continue;
            }
            const Elf64SectionHeader names = section_header(sections, table.link);
            if (is_readable(table) && is_readable(names)) {
                symbols = reinterpret_cast<const Elf64Symbol*>(table.address);
                symbol_count = table.size / sizeof(Elf64Symbol);
                symbol_names = reinterpret_cast<const char*>(names.address);
                symbol_names_size = names.size;
                return;
            }
        }
    }
}

SymbolLocation find_kernel_symbol(uint64_t address) {
    for (size_t index = 0; index < symbol_count; ++index) {
        const Elf64Symbol& symbol = symbols[index];
        if (symbol.type() == ElfSymbolType::Function && address >= symbol.value &&
            address - symbol.value < symbol.size && symbol.name < symbol_names_size) {
            return {symbol_names + symbol.name, address - symbol.value};
        }
    }
    return {nullptr, 0};
}
