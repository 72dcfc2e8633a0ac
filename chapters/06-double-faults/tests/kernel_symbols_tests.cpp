// Unit tests of the symbol table lookup: where a function ends, that only
// functions are named, and the checks made of an ELF-sections tag, on tags
// built here by hand. Most offer a table that is unusable, so the kernel
// must keep the table it loaded at boot: if it took the offered one, the
// next lookup would read memory outside the identity map and page-fault,
// or read what lies at address 0 and name no function. The last few offer
// a table of their own that the kernel must take, and read as it says;
// each gives the kernel the boot's table back (test_main.h).

#include <stdint.h>

#include "elf64.h"
#include "identity_map.h"
#include "kernel_symbols.h"
#include "kernel_test.h"
#include "multiboot2.h"
#include "serial_console.h"
#include "test_main.h"

extern "C" void kernel_main(uint32_t multiboot_info_address);

// A function one byte long, followed by a byte of no function, and a
// function of no size, as an assembly routine without .size is. Written in
// assembly, as only there the bytes around a function are this program's
// to choose; the symbol table gets a function's size from .size.
asm(R"(
    .pushsection .text
    .globl one_byte_function
    .type one_byte_function, @function
one_byte_function:
    ret
    .size one_byte_function, . - one_byte_function
    int3
    .globl sizeless_function
    .type sizeless_function, @function
sizeless_function:
    ret
    int3
    .popsection
)");
extern "C" void one_byte_function();
extern "C" void sizeless_function();

namespace {

constexpr uint32_t kSections = 3;  // the null section, .symtab, .strtab
// A section header may be larger than the ELF-64 fields this code reads;
// the tag says how large. Room for headers of up to this size:
constexpr uint32_t kLargestHeader = 96;

// Boot information with one ELF-sections tag: 20 bytes of tag header, the
// section headers, padding to 8 bytes, the end tag. Past a tag of smaller
// headers than kLargestHeader, the zeros of the room left read as the end.
struct alignas(8) InfoWithSymbolTable {
    uint32_t total_size = sizeof(InfoWithSymbolTable);
    uint32_t reserved = 0;
    uint32_t type = 9;
    uint32_t size;
    uint32_t section_count = kSections;
    uint32_t section_header_size;
    uint32_t section_name_table_index = 0;
    uint8_t headers[kSections * kLargestHeader] = {};
    uint8_t padding[4] = {};
    uint32_t end_type = 0;
    uint32_t end_size = 8;

    InfoWithSymbolTable(uint64_t symbols_address, uint64_t names_address,
                        uint64_t symbols_size = 64 * sizeof(Elf64Symbol),
                        uint32_t header_size = sizeof(Elf64SectionHeader))
        : size(20 + kSections * header_size), section_header_size(header_size) {
        Elf64SectionHeader symbols{};
        symbols.type = static_cast<uint32_t>(ElfSectionType::SymbolTable);
        symbols.address = symbols_address;
        symbols.size = symbols_size;
        symbols.link = 2;
        symbols.entry_size = sizeof(Elf64Symbol);
        set_header(1, symbols);
        Elf64SectionHeader names{};
        names.type = static_cast<uint32_t>(ElfSectionType::StringTable);
        names.address = names_address;
        names.size = 4096;
        set_header(2, names);
    }

    void set_header(uint32_t index, const Elf64SectionHeader& header) {
        __builtin_memcpy(headers + index * section_header_size, &header, sizeof(header));
    }
};
static_assert(sizeof(InfoWithSymbolTable) % 8 == 0);

constexpr uint64_t kPastTheIdentityMap = 0x8000'0000;  // 2 GiB

// Readable tables of nothing: taken, they would name no function at all.
alignas(8) constinit uint8_t empty_symbols[64 * sizeof(Elf64Symbol)] = {};
constinit char empty_names[4096] = {};

// Gives the kernel the boot's own table back, for the tests after this
// one: a test that loads a table of its own must, and so must one whose
// table the kernel should have ignored, in case it took it.
void restore_boot_symbol_table() {
    load_kernel_symbols(booted_information());
    EXPECT_EQ(find_kernel_symbol(reinterpret_cast<uintptr_t>(&kernel_main)).name, "kernel_main");
}

void expect_boot_table_kept(const InfoWithSymbolTable& info) {
    load_kernel_symbols(multiboot2::BootInformation(reinterpret_cast<uintptr_t>(&info)));
    const SymbolLocation location = find_kernel_symbol(reinterpret_cast<uintptr_t>(&kernel_main));
    restore_boot_symbol_table();
    EXPECT_EQ(location.name, "kernel_main");
}

}  // namespace

// A symbol covers its size in bytes from its address, that many and no
// more: the byte after a function is not in it, or a fault there would be
// reported in the wrong function.
KERNEL_TEST(kernel_symbols_a_function_ends_where_its_size_says) {
    const auto start = reinterpret_cast<uint64_t>(&one_byte_function);
    const SymbolLocation inside = find_kernel_symbol(start);
    EXPECT_EQ(inside.name, "one_byte_function");
    EXPECT_EQ(inside.offset, 0u);
    EXPECT_TRUE(find_kernel_symbol(start + 1).name == nullptr);
}

// A size of 0 covers no byte. Counted as a range that ends at address +
// size - 1, it would wrap around and cover every address above the
// function, and name it in the report of a fault anywhere there.
KERNEL_TEST(kernel_symbols_a_function_of_no_size_covers_nothing) {
    const auto start = reinterpret_cast<uint64_t>(&sizeless_function);
    EXPECT_TRUE(find_kernel_symbol(start).name == nullptr);
    EXPECT_TRUE(find_kernel_symbol(start + 1).name == nullptr);
}

// The symbol table names variables too, but a report names the function
// that RIP is in: an address in data is in no function.
KERNEL_TEST(kernel_symbols_a_variable_is_no_function) {
    EXPECT_TRUE(find_kernel_symbol(reinterpret_cast<uintptr_t>(empty_names)).name == nullptr);
}

KERNEL_TEST(kernel_symbols_ignore_a_symbol_table_outside_the_identity_map) {
    const InfoWithSymbolTable info(kPastTheIdentityMap, 0x100000);
    expect_boot_table_kept(info);
}

// All of the table must lie inside the identity map, not only its start.
KERNEL_TEST(kernel_symbols_ignore_a_symbol_table_that_runs_past_the_identity_map) {
    const InfoWithSymbolTable info(kIdentityMapEnd - 64, reinterpret_cast<uintptr_t>(empty_names));
    expect_boot_table_kept(info);
}

// GRUB gives a section it did not load the address 0, which is mapped:
// the table would be read from whatever lies there.
KERNEL_TEST(kernel_symbols_ignore_a_symbol_table_the_loader_did_not_load) {
    const InfoWithSymbolTable info(0, reinterpret_cast<uintptr_t>(empty_names));
    expect_boot_table_kept(info);
}

KERNEL_TEST(kernel_symbols_ignore_names_outside_the_identity_map) {
    const InfoWithSymbolTable info(0x100000, kPastTheIdentityMap);
    expect_boot_table_kept(info);
}

KERNEL_TEST(kernel_symbols_ignore_headers_outside_their_tag) {
    // The tag's size holds one section header of the three it counts: the
    // table and its names lie past the tag, in whatever follows it.
    InfoWithSymbolTable info(reinterpret_cast<uintptr_t>(empty_symbols),
                             reinterpret_cast<uintptr_t>(empty_names));
    info.size = 20 + sizeof(Elf64SectionHeader);
    expect_boot_table_kept(info);
}

// A tag too small for its own fields: the counts, and the headers after
// them, would be read from whatever follows it.
KERNEL_TEST(kernel_symbols_ignore_a_tag_too_small_for_its_fields) {
    InfoWithSymbolTable info(reinterpret_cast<uintptr_t>(empty_symbols),
                             reinterpret_cast<uintptr_t>(empty_names));
    info.size = 16;  // the header's index of the section names would lie past it
    expect_boot_table_kept(info);
}

// Headers smaller than the ELF-64 header this code reads (an ELF-32
// kernel's are 40 bytes) would each be read into the next; at a size of 0,
// every index reads the first one. Here that one is a symbol table whose
// names are itself: read as if the size were 0, it would be taken.
KERNEL_TEST(kernel_symbols_ignore_headers_smaller_than_elf64s) {
    InfoWithSymbolTable info(reinterpret_cast<uintptr_t>(empty_symbols),
                             reinterpret_cast<uintptr_t>(empty_names));
    Elf64SectionHeader own_names{};
    own_names.type = static_cast<uint32_t>(ElfSectionType::SymbolTable);
    own_names.address = reinterpret_cast<uintptr_t>(empty_symbols);
    own_names.size = sizeof(empty_symbols);
    own_names.link = 0;
    info.set_header(0, own_names);
    info.section_header_size = 0;
    expect_boot_table_kept(info);
}

// The table's link must name a section the tag counts; one past the last
// names whatever follows the headers. Here what follows is the names'
// header, valid but not counted, so that such a link would be followed.
KERNEL_TEST(kernel_symbols_ignore_a_link_past_the_last_section) {
    InfoWithSymbolTable info(reinterpret_cast<uintptr_t>(empty_symbols),
                             reinterpret_cast<uintptr_t>(empty_names));
    info.section_count = 2;
    expect_boot_table_kept(info);
}

namespace {

// Functions at addresses of no code: the symbols are only looked up.
constexpr uint64_t kCountedFunction = 0x1000;
constexpr uint64_t kUncountedFunction = 0x2000;
constexpr uint8_t kGlobalFunction = 0x12;  // STB_GLOBAL << 4 | STT_FUNC

// The names of the tables below: "counted" at 1, "uncounted" at 9.
constinit char test_symbol_names[4096] = "\0counted\0uncounted";

// Loads a symbol table of the test's own, named from test_symbol_names.
// The kernel takes it: the test must give it the boot's table back.
void load_test_symbol_table(const Elf64Symbol* symbols, uint64_t size,
                            uint32_t header_size = sizeof(Elf64SectionHeader)) {
    const InfoWithSymbolTable info(reinterpret_cast<uintptr_t>(symbols),
                                   reinterpret_cast<uintptr_t>(test_symbol_names), size,
                                   header_size);
    load_kernel_symbols(multiboot2::BootInformation(reinterpret_cast<uintptr_t>(&info)));
}

// A table of two symbols, the null one and "counted", and in the bytes
// after it a third, "uncounted", that a lookup must not reach.
constinit Elf64Symbol two_symbols_and_one_more[3] = {
    {},
    {1, kGlobalFunction, 0, 1, kCountedFunction, 16},
    {9, kGlobalFunction, 0, 1, kUncountedFunction, 16},
};

// A function whose name would start just past the end of the names.
constinit Elf64Symbol symbol_named_past_the_names[2] = {
    {},
    {sizeof(test_symbol_names), kGlobalFunction, 0, 1, kCountedFunction, 16},
};

}  // namespace

// A symbol table's size is in bytes: it holds size / 24 symbols, and the
// bytes after them are no symbols of it, however much they look like one.
// Counted in bytes, the lookup would read 24 times as far, past the table
// into whatever lies there, and name a function from it.
KERNEL_TEST(kernel_symbols_a_table_ends_where_its_size_says) {
    load_test_symbol_table(two_symbols_and_one_more, 2 * sizeof(Elf64Symbol));
    const SymbolLocation counted = find_kernel_symbol(kCountedFunction + 4);
    const SymbolLocation uncounted = find_kernel_symbol(kUncountedFunction + 4);
    restore_boot_symbol_table();

    EXPECT_EQ(counted.name, "counted");
    if (!EXPECT_TRUE(uncounted.name == nullptr)) {
        serial_println("the lookup named {}, which lies past the table's {} bytes", uncounted.name,
                       2 * sizeof(Elf64Symbol));
    }
}

// A name is an offset into the string table, which a broken table may put
// anywhere: one outside the names would be read from whatever lies there.
// Such a symbol names no function.
KERNEL_TEST(kernel_symbols_a_name_past_the_string_table_is_no_name) {
    load_test_symbol_table(symbol_named_past_the_names, sizeof(symbol_named_past_the_names));
    const SymbolLocation location = find_kernel_symbol(kCountedFunction + 4);
    restore_boot_symbol_table();

    if (!EXPECT_TRUE(location.name == nullptr)) {
        serial_println("a name at offset {} was read from a string table of {} bytes",
                       sizeof(test_symbol_names), sizeof(test_symbol_names));
    }
}

// ELF lets a section header be larger than the fields this code reads
// (e_shentsize), and the tag passes its size on: the headers lie that many
// bytes apart. Read 64 bytes apart, these would name no symbol table.
KERNEL_TEST(kernel_symbols_headers_lie_as_far_apart_as_the_tag_says) {
    load_test_symbol_table(two_symbols_and_one_more, 2 * sizeof(Elf64Symbol), kLargestHeader);
    const SymbolLocation counted = find_kernel_symbol(kCountedFunction + 4);
    restore_boot_symbol_table();

    EXPECT_EQ(counted.name, "counted");
}
