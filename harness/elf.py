"""Reads what the harness needs from an ELF file: its class, program
headers, sections and symbols.

Written with struct rather than by calling readelf or nm, so that the tests
depend on no output format of another tool, and so that a symbol's address
and size come as numbers ready to compare with a register.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, replace
from pathlib import Path

ELFCLASS32 = 1
ELFCLASS64 = 2

PROGRAM_HEADER_TYPES = {0: "NULL", 1: "LOAD", 2: "DYNAMIC", 3: "INTERP", 4: "NOTE", 6: "PHDR", 7: "TLS"}
SECTION_SYMTAB = 2
SECTION_NOBITS = 8  # .bss: takes memory, no bytes in the file
# What a loadable segment lets the loaded code do with its pages (p_flags),
# and what a section's contents need (sh_flags).
SEGMENT_EXECUTE, SEGMENT_WRITE, SEGMENT_READ = 1, 2, 4
SECTION_WRITE, SECTION_ALLOC, SECTION_EXECUTE = 1, 2, 4
SYMBOL_TYPES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE"}
CODE_SYMBOL_TYPES = ("FUNC", "NOTYPE")  # NOTYPE: an assembly label
SYMBOL_BINDINGS = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK"}
UNDEFINED_SECTION = 0
# g++'s name for the part of a function it moved its rarely taken paths into.
COLD_PART = re.compile(r"\.cold(\.\d+)?$")
RESERVED_SECTIONS = 0xFF00  # and up: absolute values (NASM's equ), common symbols


@dataclass(frozen=True)
class ProgramHeader:
    type: str  # "LOAD", "INTERP", "DYNAMIC", ... or the number as text
    offset: int
    virtual_address: int
    file_size: int
    memory_size: int
    flags: int  # SEGMENT_READ | SEGMENT_WRITE | SEGMENT_EXECUTE


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    flags: int  # SECTION_WRITE | SECTION_ALLOC | SECTION_EXECUTE
    address: int
    offset: int
    size: int


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int
    type: str  # "FUNC", "OBJECT", "NOTYPE", ...
    binding: str  # "LOCAL", "GLOBAL", "WEAK"
    section_index: int
    # The bytes it covers: its size; for a code label without one (an
    # assembly label, st_size 0), up to the next label that is not one of
    # its own local ones (NASM names halt_forever's .again
    # halt_forever.again), or to the end of its section. Read as empty,
    # such a label would hold not even the hlt it was named for.
    extent: int

    @property
    def defined(self) -> bool:
        return self.section_index != UNDEFINED_SECTION

    def contains(self, address: int) -> bool:
        return self.value <= address < self.value + self.extent


class ElfFile:
    """An ELF file, read from path, or given as data (an object inside
    another file) with path only naming it."""

    def __init__(self, path: Path | str, data: bytes | None = None):
        self.path = Path(path)
        self.data = self.path.read_bytes() if data is None else data
        if self.data[:4] != b"\x7fELF":
            raise ValueError(f"{self.path} is not an ELF file")
        self.elf_class = self.data[4]
        if self.elf_class not in (ELFCLASS32, ELFCLASS64):
            raise ValueError(f"{self.path}: unknown ELF class {self.elf_class}")
        self.bits = 32 if self.elf_class == ELFCLASS32 else 64
        self._word = "I" if self.bits == 32 else "Q"
        self.program_headers = self._read_program_headers()
        self.sections = self._read_sections()
        self.symbols = self._read_symbols()

    @property
    def entry(self) -> int:
        """The entry point: where the loader jumps to start the kernel."""
        return self._header()[3]

    def loads(self, address: int) -> bool:
        """Whether the address lies in a segment the loader puts in memory."""
        return any(header.type == "LOAD" and header.virtual_address <= address
                   < header.virtual_address + header.memory_size for header in self.program_headers)

    # The header fields differ between ELF32 and ELF64 only in the width of
    # addresses and offsets, and in the order of a few fields.

    def _header(self) -> tuple:
        if self.bits == 32:
            return struct.unpack_from("<HHIIIIIHHHHHH", self.data, 16)
        return struct.unpack_from("<HHIQQQIHHHHHH", self.data, 16)

    def _read_program_headers(self) -> list[ProgramHeader]:
        _, _, _, _, phoff, _, _, _, phentsize, phnum, _, _, _ = self._header()
        headers = []
        for i in range(phnum):
            at = phoff + i * phentsize
            if self.bits == 32:
                type_, offset, vaddr, _, filesz, memsz, flags, _ = struct.unpack_from("<IIIIIIII", self.data, at)
            else:
                type_, flags, offset, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", self.data, at)
            headers.append(ProgramHeader(PROGRAM_HEADER_TYPES.get(type_, hex(type_)), offset, vaddr, filesz, memsz,
                                         flags))
        return headers

    def _read_sections(self) -> list[Section]:
        _, _, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx = self._header()
        raw = []
        for i in range(shnum):
            at = shoff + i * shentsize
            if self.bits == 32:
                name, type_, flags, addr, offset, size, _, _, _, _ = struct.unpack_from("<IIIIIIIIII", self.data, at)
            else:
                name, type_, flags, addr, offset, size, _, _, _, _ = struct.unpack_from("<IIQQQQIIQQ", self.data, at)
            raw.append((name, type_, flags, addr, offset, size))
        if not raw:
            return []
        names_offset = raw[shstrndx][4]
        return [Section(self._string(names_offset + name), type_, flags, addr, offset, size)
                for name, type_, flags, addr, offset, size in raw]

    def _read_symbols(self) -> list[Symbol]:
        symtab = next((s for s in self.sections if s.type == SECTION_SYMTAB), None)
        if symtab is None:
            return []
        # The symbol table's string table is the section its sh_link names;
        # it is .strtab in every file a linker writes.
        strtab = next(s for s in self.sections if s.name == ".strtab")
        entry_size = 16 if self.bits == 32 else 24
        symbols = []
        for at in range(symtab.offset + entry_size, symtab.offset + symtab.size, entry_size):  # entry 0 is null
            if self.bits == 32:
                name, value, size, info, _, shndx = struct.unpack_from("<IIIBBH", self.data, at)
            else:
                name, info, _, shndx, value, size = struct.unpack_from("<IBBHQQ", self.data, at)
            symbols.append(Symbol(self._string(strtab.offset + name), value, size,
                                  SYMBOL_TYPES.get(info & 0xF, str(info & 0xF)),
                                  SYMBOL_BINDINGS.get(info >> 4, str(info >> 4)), shndx, size))
        return [replace(symbol, extent=self._label_extent(symbol, symbols)) if self._is_label(symbol) else symbol
                for symbol in symbols]

    def _is_label(self, symbol: Symbol) -> bool:
        """A defined code symbol without a size, in a section of the file."""
        return (symbol.size == 0 and symbol.type in CODE_SYMBOL_TYPES and symbol.defined
                and symbol.section_index < min(RESERVED_SECTIONS, len(self.sections)))

    def _label_extent(self, label: Symbol, symbols: list[Symbol]) -> int:
        section = self.sections[label.section_index]
        next_labels = [other.value for other in symbols
                       if other.section_index == label.section_index and other.type in CODE_SYMBOL_TYPES
                       and other.value > label.value and not other.name.startswith(label.name + ".")]
        return min(next_labels, default=section.address + section.size) - label.value

    def _string(self, offset: int) -> str:
        return self.data[offset:self.data.index(b"\0", offset)].decode()

    # What the tests ask.

    def symbol(self, name: str) -> Symbol:
        for symbol in self.symbols:
            if symbol.name == name and symbol.defined:
                return symbol
        raise KeyError(f"{self.path.name} has no symbol {name!r}")

    def object_named_like(self, part: str) -> Symbol:
        """The one variable whose (perhaps mangled) name contains `part`:
        a variable in an anonymous namespace has no plain name
        (_ZN12_GLOBAL__N_118task_state_segmentE)."""
        return self._one_named_like(part, "OBJECT", "variable")

    def function_named_like(self, part: str) -> Symbol:
        """The one function whose (perhaps mangled) name contains `part`
        (_ZN12_GLOBAL__N_114show_scrollingEv). g++ moves a function's
        rarely taken paths (UBSan's reports, say) into a part of their own,
        a function symbol named after it with .cold added: no way in, and
        not the function."""
        return self._one_named_like(part, "FUNC", "function", COLD_PART)

    def _one_named_like(self, part: str, symbol_type: str, what: str, not_named: re.Pattern | None = None) -> Symbol:
        found = [s for s in self.symbols if part in s.name and s.type == symbol_type and s.defined
                 and not (not_named and not_named.search(s.name))]
        if len(found) != 1:
            raise KeyError(f"expected one {what} named like {part!r} in {self.path.name}, "
                           f"found {[s.name for s in found]}")
        return found[0]

    def variable_holding(self, address: int, size: int) -> Symbol | None:
        """The variable whose bytes include all of [address, address + size)."""
        return next((s for s in self.symbols if s.type == "OBJECT" and s.defined
                     and s.contains(address) and address + size <= s.value + s.size), None)

    def undefined_symbols(self) -> list[Symbol]:
        return [s for s in self.symbols if not s.defined and s.name]

    def function_at(self, address: int) -> str | None:
        """Names the function that holds the address, as `name+0xoffset`:
        the symbol that covers it (Symbol.extent), else the nearest below."""
        candidates = [s for s in self.symbols
                      if s.defined and s.section_index < RESERVED_SECTIONS
                      and s.type in CODE_SYMBOL_TYPES and s.name and not s.name.startswith(".")]
        containing = [s for s in candidates if s.contains(address)]
        if containing:
            # A size is the compiler's word; among labels, the innermost
            # (a local one, _start.spin inside _start) names the place best.
            symbol = max(containing, key=lambda s: (s.size > 0, s.value))
            return f"{symbol.name}+{address - symbol.value:#x}"
        below = [s for s in candidates if s.value <= address]
        if not below:
            return None
        nearest = max(below, key=lambda s: s.value)
        if address - nearest.value > 0x10000:
            return None  # too far to be the same function
        return f"{nearest.name}+{address - nearest.value:#x}"

    def initial_bytes(self, address: int, size: int) -> bytes:
        """The bytes the loader puts at a virtual address before the kernel
        runs: the file's contents, or zeros in memory-only parts (.bss)."""
        for header in self.program_headers:
            if header.type != "LOAD":
                continue
            start = header.virtual_address
            if start <= address and address + size <= start + header.memory_size:
                result = bytearray(size)
                for i in range(size):
                    within = address + i - start
                    if within < header.file_size:
                        result[i] = self.data[header.offset + within]
                return bytes(result)
        raise ValueError(f"{address:#x} is in no loadable segment of {self.path.name}")

    def file_offset_of_first(self, needle: bytes, within: int) -> int | None:
        """Where a byte string first occurs in the first `within` bytes of
        the file (Multiboot headers must lie near the start), or None."""
        found = self.data.find(needle, 0, within)
        return None if found < 0 else found
