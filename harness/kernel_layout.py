"""What common/linker.ld promises of every kernel it links, read back from
the ELF file rather than from the script, so that it holds for both
linkers (ld.lld and GNU ld differ in what they make of the same script):

- the loadable segments lie at 1 MiB and up, above the BIOS's data, the
  VGA memory and the ROM;
- the first of them opens with the Multiboot header, so that no amount of
  code can push the header past the part of the file a loader searches;
- zero-initialised data (.bss) is memory the loader clears, the part of
  the data segment beyond its bytes in the file, not zeros stored in the
  file: the boot stack, the page tables and chapter 1's sieve lie there;
- no two segments share a page, and each segment's permissions are what
  its sections need: code executable and not writable, read-only data
  neither, data writable and not executable. Nothing enforces them while
  the kernel runs on boot.asm's identity map, which ignores them; a kernel
  that maps its pages with their segment's permissions needs them right,
  and a segment that shares a page with another can only get both's.
"""

from __future__ import annotations

from elf import SECTION_ALLOC, SECTION_EXECUTE, SECTION_WRITE, SEGMENT_EXECUTE, SEGMENT_WRITE, ElfFile, \
    ProgramHeader, Section

LOWEST_ADDRESS = 1 << 20
PAGE_SIZE = 4096
MULTIBOOT_MAGICS = {0x1BADB002, 0xE85250D6}  # Multiboot 1 (chapter 1), Multiboot2


def sections_in(elf: ElfFile, segment: ProgramHeader) -> list[Section]:
    """The sections the loader puts into the segment's memory."""
    return [s for s in elf.sections if s.flags & SECTION_ALLOC and s.size
            and segment.virtual_address <= s.address < segment.virtual_address + segment.memory_size]


def permission_problems(elf: ElfFile, segment: ProgramHeader) -> list[str]:
    sections = sections_in(elf, segment)
    names = ", ".join(s.name for s in sections)
    where = f"the segment at {segment.virtual_address:#x} ({names})"
    code = [s.name for s in sections if s.flags & SECTION_EXECUTE]
    not_code = [s.name for s in sections if not s.flags & SECTION_EXECUTE]
    written = [s.name for s in sections if s.flags & SECTION_WRITE]
    read_only = [s.name for s in sections if not s.flags & SECTION_WRITE]
    executable, writable = segment.flags & SEGMENT_EXECUTE, segment.flags & SEGMENT_WRITE
    problems = []
    if executable and writable:
        problems.append(f"{where} is writable and executable: a stray write can change the code")
    if code and not executable:
        problems.append(f"{where} holds code ({', '.join(code)}) but is not executable")
    if executable and not_code:
        problems.append(f"{where} is executable, and so is what it holds that is not code: {', '.join(not_code)}")
    if written and not writable:
        problems.append(f"{where} holds data written at run time ({', '.join(written)}) but is not writable")
    if writable and read_only:
        problems.append(f"{where} is writable, and so is what it holds that is read-only: {', '.join(read_only)}")
    return problems


def layout_problems(elf: ElfFile) -> list[str]:
    """Every way the kernel's layout breaks the promises above, in words;
    empty if none."""
    # GNU ld writes a segment of the script's PHDRS that no section went
    # into (chapter 1 has no read-only data) as an empty one at address 0.
    # It loads nothing.
    segments = sorted((h for h in elf.program_headers if h.type == "LOAD" and h.memory_size),
                      key=lambda h: h.virtual_address)
    if not segments:
        return ["no loadable segment"]
    problems = []
    low = [f"{s.virtual_address:#x}" for s in segments if s.virtual_address < LOWEST_ADDRESS]
    if low:
        problems.append(f"segments below 1 MiB, among the BIOS's data, the VGA memory and the ROM: at {', '.join(low)}")
    first = min((s for s in segments if s.file_size), key=lambda h: h.offset)
    magic = int.from_bytes(elf.data[first.offset:first.offset + 4], "little")
    if magic not in MULTIBOOT_MAGICS:
        problems.append(f"the first loadable segment (at {first.virtual_address:#x}) does not open with the Multiboot "
                        "header: does the linker script put .multiboot_header before the code?")
    for before, after in zip(segments, segments[1:]):
        last_page = (before.virtual_address + before.memory_size - 1) // PAGE_SIZE
        if after.virtual_address // PAGE_SIZE <= last_page:
            problems.append(f"the segments at {before.virtual_address:#x} and {after.virtual_address:#x} share the "
                            f"page at {after.virtual_address // PAGE_SIZE * PAGE_SIZE:#x}: paging cannot give "
                            "each its own permissions")
    for segment in segments:
        problems += permission_problems(elf, segment)
    bottom, top = elf.symbol("stack_bottom").value, elf.symbol("stack_top").value
    if any(bottom < s.virtual_address + s.file_size and s.virtual_address < top for s in segments):
        problems.append(f"the boot stack ({bottom:#x} to {top:#x}) is stored in the file as {top - bottom} zero bytes: "
                        "it belongs in .bss, and .bss in the part of the data segment that the loader clears")
    return problems
