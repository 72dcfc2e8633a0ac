"""A kernel file's Multiboot2 header against the specification (GRUB's
Multiboot2 manual, 3.1 "OS image format"), not against what GRUB accepts.

GRUB stops reading the header's tags at the first of type 0, whatever its
size, and never compares where they end with the header's length: a header
whose end tag says 16 bytes, or whose header_length leaves its tags out,
boots under GRUB today and may not under another loader. The layout:

    offset  0  u32 magic          0xe85250d6
            4  u32 architecture   0 (i386, 32-bit protected mode) or 4 (MIPS)
            8  u32 header_length  in bytes, from the magic to the end tag's end
           12  u32 checksum       the four fields sum to 0 modulo 2^32
           16  tags               each u16 type, u16 flags, u32 size (with
                                  these 8 bytes), starting 8-byte aligned;
                                  the last is the end tag, type 0 and size 8

The header lies 8-byte aligned within the file's first 32 KiB.
"""

from __future__ import annotations

import struct

from elf import ElfFile

MAGIC = 0xE85250D6
SEARCH_LIMIT = 32 * 1024
ALIGNMENT = 8
FIXED_FIELDS = struct.Struct("<4I")
TAG_HEADER = struct.Struct("<HHI")
END_TAG_TYPE = 0
END_TAG_SIZE = 8
ARCHITECTURES = {0, 4}  # i386 (in 32-bit protected mode) and MIPS


def header_offset(elf: ElfFile) -> int | None:
    """Where the magic first stands in the file's first 32 KiB, or None:
    no Multiboot2 header."""
    return elf.file_offset_of_first(MAGIC.to_bytes(4, "little"), SEARCH_LIMIT)


def header_problems(elf: ElfFile) -> list[str]:
    """Every way the file's header differs from the specification, in words;
    empty if none."""
    offset = header_offset(elf)
    if offset is None:
        return [f"no Multiboot2 magic {MAGIC:#x} in the first 32 KiB"]
    if offset % ALIGNMENT:
        return [f"the header at file offset {offset:#x} is not {ALIGNMENT}-byte aligned"]
    data = elf.data
    if offset + FIXED_FIELDS.size > len(data):
        return [f"the header at file offset {offset:#x} is cut off by the end of the file"]
    magic, architecture, length, checksum = FIXED_FIELDS.unpack_from(data, offset)
    problems = []
    if architecture not in ARCHITECTURES:
        problems.append(f"architecture {architecture}: the specification knows 0 (i386) and 4 (MIPS)")
    if (magic + architecture + length + checksum) % 2**32 != 0:
        problems.append(f"checksum {checksum:#x}: magic, architecture, header_length and checksum "
                        "do not sum to 0 modulo 2^32")
    if offset + length > SEARCH_LIMIT:
        problems.append(f"the header ends {offset + length:#x} bytes into the file, past the first 32 KiB")
    position = FIXED_FIELDS.size
    while True:
        if position + TAG_HEADER.size > length or offset + position + TAG_HEADER.size > len(data):
            problems.append(f"no end tag within header_length ({length} bytes)")
            return problems
        tag_type, _, size = TAG_HEADER.unpack_from(data, offset + position)
        if size < TAG_HEADER.size:
            problems.append(f"the tag of type {tag_type} at offset {position} is {size} bytes long, "
                            f"shorter than its own {TAG_HEADER.size}-byte header")
            return problems
        if tag_type == END_TAG_TYPE:
            break
        position += -(-size // ALIGNMENT) * ALIGNMENT  # the next tag starts 8-byte aligned
    if size != END_TAG_SIZE:
        problems.append(f"the end tag is {size} bytes long, not {END_TAG_SIZE}")
    if position + size != length:
        problems.append(f"header_length is {length} bytes, but the end tag ends {position + size} bytes "
                        "after the magic")
    return problems
