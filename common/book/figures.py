#!/usr/bin/env python3
"""Draws the book's figures as SVG into book/figures/: `make book`, or

    /usr/bin/python3 common/book/figures.py [--kernel ELF] [--output DIR] [--check]

A figure that shows a layout the code defines is drawn from that code, read
the way the compiler's static_asserts read it: the fields of a struct with
their sizes, checked against the header's own offsetof and sizeof asserts
(a figure that disagrees with them is not drawn); the descriptor bits of
gdt.h; the colour byte of vga.h; the physical memory map from the symbols of
chapter 6's built kernel.elf. The figures of control flow are drawn from the
text below. --check draws into memory and names every file of book/figures/
that differs from what it would write.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import svg
from svg import CODE, CPU, MUTED, NEUTRAL, UNMAPPED, Drawing

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
CHAPTERS = REPOSITORY / "chapters"
FIGURES = REPOSITORY / "book" / "figures"
DEFAULT_KERNEL = REPOSITORY / "build" / "06-double-faults" / "kernel.elf"

sys.path.insert(0, str(REPOSITORY / "harness"))
from elf import ElfFile  # noqa: E402  (the harness's ELF reader, one for the project)


class FactsDisagree(SystemExit):
    """The code's static_asserts say something else than the figure would."""


# --- facts read from the code -------------------------------------------------

FIELD_SIZES = {"uint8_t": 1, "uint16_t": 2, "uint32_t": 4, "uint64_t": 8,
               "SegmentDescriptor": 8, "TaskStateSegmentDescriptor": 16}
FIELD = re.compile(r"^\s+(\w+) (\w+)(?:\[(\d+)\])?(?: = [^;]+)?;\s*(?://\s*(.*))?$")


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    size: int
    comment: str


def source(chapter: str, name: str) -> str:
    return (CHAPTERS / chapter / name).read_text(encoding="utf-8")


def constant(expression: str) -> int:
    """The value of a static_assert's integer expression: 14 * 8, 0x0020'9b00."""
    cleaned = expression.replace("'", "").strip()
    if not re.fullmatch(r"[0-9a-fA-FxX\s*+()]+", cleaned):
        raise ValueError(f"not a plain integer expression: {expression}")
    return eval(cleaned)  # digits, x, *, + and parentheses only, checked above


def struct_fields(chapter: str, header: str, struct: str) -> list[Field]:
    """The data members of a struct in the header, at the offsets they get
    one after the other, checked against every offsetof and sizeof
    static_assert the header makes about the struct."""
    text = source(chapter, header)
    body = re.search(rf"^struct (?:\[\[gnu::packed\]\] )?{struct} {{\n(.*?)^}};", text, re.M | re.S)
    if body is None:
        raise FactsDisagree(f"{chapter}/{header}: no struct {struct}")
    fields, offset = [], 0
    for line in body[1].splitlines():
        match = FIELD.match(line)
        if match and match[1] in FIELD_SIZES:
            size = FIELD_SIZES[match[1]] * int(match[3] or 1)
            fields.append(Field(match[2], offset, size, (match[4] or "").strip()))
            offset += size
    where = f"chapters/{chapter}/{header}"
    for name, expected in re.findall(rf"static_assert\(offsetof\({struct}, (\w+)\) == ([^);]+)\);", text):
        field = next((f for f in fields if f.name == name), None)
        if field is None or field.offset != constant(expected):
            raise FactsDisagree(f"{where}: the figure puts {struct}::{name} at "
                                f"{field.offset if field else 'no offset'}, the static_assert at {expected}")
    for expected in re.findall(rf"static_assert\(sizeof\({struct}\) == ([^);]+)\);", text):
        if offset != constant(expected):
            raise FactsDisagree(f"{where}: the figure makes {struct} {offset} bytes, the static_assert {expected}")
    return fields


def descriptor_layout(chapter: str) -> tuple[list[tuple[int, int, str]], int]:
    """The fields of an 8-byte segment descriptor as gdt.h's comment lists
    them, (low bit, high bit, what), and the kernel code descriptor's value
    that its static_assert checks."""
    text = source(chapter, "gdt.h")
    block = re.search(r"the descriptor \(SDM[^\n]*\n((?://   bits.*\n)+)", text)
    if block is None:
        raise FactsDisagree(f"chapters/{chapter}/gdt.h: no comment that lists the descriptor's bits")
    fields = [(int(low), int(high), what.strip()) for low, high, what in
              re.findall(r"bits (\d+)-(\d+)\s+(.+?)(?=\s{2,}bits|$)", block[1], re.M)]
    covered = sorted(bit for low, high, _ in fields for bit in range(low, high + 1))
    if covered != list(range(64)):
        raise FactsDisagree(f"chapters/{chapter}/gdt.h: the descriptor's fields do not cover bits 0-63 once each")
    value = re.search(r"static_assert\(SegmentDescriptor::kernel_code\(\)\.bits\(\) == ([^);]+)\);", text)
    return sorted(fields), constant(value[1])


def paging_split(chapter: str) -> tuple[int, int, list[str], int, dict[str, int]]:
    """How paging.h's table_index splits an address: the offset's width,
    each index's width, the levels from the top, and one static_assert's
    example address with the indices the assert and the split agree on."""
    text = source(chapter, "paging.h")
    shift = re.search(r"address >> \((\d+) \+ (\d+) \* static_cast<unsigned>\(level\)\)", text)
    offset_bits, index_bits = int(shift[1]), int(shift[2])
    levels = re.search(r"enum class PageTableLevel : uint8_t {(.*?)};", text, re.S)[1]
    numbered = {name: int(value) for name, value in re.findall(r"(\w+) = (\d+)", levels)}
    order = sorted(numbered, key=numbered.get, reverse=True)
    asserts = re.findall(r"static_assert\(table_index\(([^,]+), PageTableLevel::(\w+)\) == ([^)]+)\);", text)
    address = constant(asserts[-1][0])
    indices = {level: (address >> (offset_bits + index_bits * numbered[level])) % (1 << index_bits)
               for level in order}
    for example, level, expected in asserts:
        index = (constant(example) >> (offset_bits + index_bits * numbered[level])) % (1 << index_bits)
        if index != constant(expected):
            raise FactsDisagree(f"chapters/{chapter}/paging.h: the split disagrees with table_index({example})")
    return offset_bits, index_bits, order, address, indices


def colour_byte(chapter: str) -> tuple[int, dict[int, str]]:
    """Where vga.h's ColorCode puts the background (the shift) and the
    palette of its Color enum."""
    text = source(chapter, "vga.h")
    shift = int(re.search(r"static_cast<uint8_t>\(background\) << (\d+)", text)[1])
    palette = re.search(r"enum class Color : uint8_t {(.*?)};", text, re.S)[1]
    return shift, {int(value): name for name, value in re.findall(r"(\w+) = (\d+)", palette)}


# --- the figures ----------------------------------------------------------------

def boot_flow() -> Drawing:
    steps = [
        (CPU, ["Firmware", "BIOS or UEFI", "tests memory, finds a boot disk"]),
        (NEUTRAL, ["GRUB", "reads grub.cfg: multiboot2 /boot/kernel.elf",
                   "loads the ELF at 1 MiB, enters it in 32-bit mode"]),
        (CODE, ["boot.asm: _start", "checks: Multiboot2, CPUID, long mode",
                "page tables, EFER.LME, paging, far jump"]),
        (CODE, ["boot.asm: long_mode_start", "64-bit mode: segment registers, stack", "run_global_constructors"]),
        (CODE, ["kernel_main(info)", "C++: the chapter's kernel", "then halt_forever"]),
    ]
    modes = ["real mode (BIOS) or 64-bit (UEFI)", "32-bit (BIOS) or 64-bit (UEFI)", "32-bit protected mode",
             "64-bit long mode", "64-bit long mode"]
    box_width, box_height, gap, left, top = 420, 62, 26, 20, 46
    drawing = Drawing(720, top + len(steps) * (box_height + gap), "From power-on to kernel_main")
    for index, ((fill, lines), mode) in enumerate(zip(steps, modes)):
        y = top + index * (box_height + gap)
        drawing.labelled_box(left, y, box_width, box_height, lines, fill)
        drawing.text(left + box_width + 20, y + box_height / 2 + 4, mode, anchor="start", size=12, colour=MUTED)
        if index:
            drawing.arrow(left + box_width / 2, y - gap, left + box_width / 2, y)
    drawing.text(left, 24, "blue: the machine;  grey: the boot loader;  yellow: this kernel",
                 anchor="start", size=12, colour=MUTED)
    return drawing


def address_split(chapter: str = "06-double-faults") -> Drawing:
    offset_bits, index_bits, levels, address, indices = paging_split(chapter)
    names = {"Pml4": "PML4", "PageDirectoryPointerTable": "PDPT", "PageDirectory": "page directory",
             "PageTable": "page table"}
    top_bit = offset_bits + index_bits * len(levels)  # 48: the first bit that must copy bit 47
    parts = [(63, top_bit, "sign extension", "copies of bit 47", None)]
    for position, level in enumerate(levels):
        high = top_bit - 1 - position * index_bits
        parts.append((high, high - index_bits + 1, f"{names[level]} index", f"entry {indices[level]:#x}", level))
    parts.append((offset_bits - 1, 0, "page offset", f"{address % (1 << offset_bits):#x}", None))
    drawing = Drawing(960, 200, f"The {top_bit}-bit split of a virtual address")
    scale, left = 16, 30
    x = left
    for high, low, what, example, level in parts:
        width = (high - low + 1) * scale * (0.5 if low == top_bit else 1)
        drawing.box(x, 60, width, 44, NEUTRAL if level is None else CPU)
        drawing.text(x + width / 2, 87, what, size=12)
        drawing.text(x + 3, 54, str(high), anchor="start", size=10, colour=MUTED)
        drawing.text(x + width - 3, 54, str(low), anchor="end", size=10, colour=MUTED)
        drawing.text(x + width / 2, 124, example, size=12, monospace=True)
        x += width
    drawing.text(left, 24, f"Address {address:#018x}, the example of paging.h's static_asserts:",
                 anchor="start", size=13)
    drawing.text(left, 160, f"Each index picks one of {1 << index_bits} entries of 8 bytes in a 4 KiB table; "
                 "CR3 holds the PML4's address.", anchor="start", size=12, colour=MUTED)
    drawing.text(left, 180, "A page directory entry with the huge bit maps a 2 MiB page: then the page table "
                 "index is part of the offset.", anchor="start", size=12, colour=MUTED)
    return drawing


def exception_stack(chapter: str = "05-cpu-exceptions") -> Drawing:
    fields = struct_fields(chapter, "exception_frame.h", "ExceptionFrame")
    cpu_pushed = {"rip", "cs", "rflags", "rsp", "ss"}
    row, top, left, width = 22, 50, 150, 230
    drawing = Drawing(760, top + row * len(fields) + 90, "The stack when the dispatcher runs")
    drawing.text(left + width / 2, 24, "higher addresses", size=12, colour=MUTED)
    for position, field in enumerate(reversed(fields)):
        y = top + position * row
        drawing.box(left, y, width, row, CPU if field.name in cpu_pushed else CODE)
        drawing.text(left + width / 2, y + 15, field.name, size=12, monospace=True)
        drawing.text(left - 10, y + 15, f"frame + {field.offset:3d}", anchor="end", size=11,
                     monospace=True, colour=MUTED)
    bottom = top + row * len(fields)
    drawing.text(left + width / 2, bottom + 18, "lower addresses: RSP points here, the ExceptionFrame*",
                 size=12, colour=MUTED)
    groups = [("pushed by the CPU (SS first),", "onto a stack aligned to 16 bytes", cpu_pushed),
              ("the error code: by the CPU if the", "exception has one, else the stub's 0", {"error_code"}),
              ("pushed by the stub:", "the vector, then rax ... r15",
               {f.name for f in fields} - cpu_pushed - {"error_code"})]
    names_from_top = [f.name for f in reversed(fields)]
    for first, second, names in groups:
        rows = [index for index, name in enumerate(names_from_top) if name in names]
        y1, y2 = top + min(rows) * row + 3, top + (max(rows) + 1) * row - 3
        drawing.line(left + width + 12, y1, left + width + 12, y2)
        drawing.text(left + width + 22, (y1 + y2) / 2 - 2, first, anchor="start", size=12)
        drawing.text(left + width + 22, (y1 + y2) / 2 + 13, second, anchor="start", size=12)
    drawing.text(20, bottom + 44, f"{len(fields)} fields of 8 bytes = {len(fields) * 8} bytes, a multiple of 16: "
                 "the call to the dispatcher finds the stack aligned, as the ABI wants.",
                 anchor="start", size=12)
    drawing.text(20, bottom + 64, "Offsets and size as exception_frame.h's static_asserts check them.",
                 anchor="start", size=12, colour=MUTED)
    return drawing


def double_fault_paths() -> Drawing:
    drawing = Drawing(900, 420, "A stack overflow, without and with an IST stack for #DF")
    columns = [
        ("Chapter 5: #DF on the current stack", [
            (CODE, "a call pushes below the stack"),
            (UNMAPPED, "#PF: the guard page is not mapped"),
            (UNMAPPED, "pushing the #PF frame faults again"),
            (UNMAPPED, "#PF while delivering #PF: #DF"),
            (UNMAPPED, "pushing the #DF frame faults again"),
            (UNMAPPED, "triple fault: the CPU shuts down, the PC resets"),
        ]),
        ("Chapter 6: #DF's gate names IST1", [
            (CODE, "a call pushes below the stack"),
            (UNMAPPED, "#PF: the guard page is not mapped"),
            (UNMAPPED, "pushing the #PF frame faults again"),
            (UNMAPPED, "#PF while delivering #PF: #DF"),
            (CPU, "the CPU loads RSP from TSS.IST1 first"),
            (CODE, "the #DF handler runs on its own stack and reports"),
        ]),
    ]
    for column, (title, steps) in enumerate(columns):
        x = 30 + column * 440
        drawing.text(x + 190, 28, title, size=14, bold=True)
        for index, (fill, text) in enumerate(steps):
            y = 50 + index * 60
            drawing.labelled_box(x, y, 380, 38, [text], fill)
            if index:
                drawing.arrow(x + 190, y - 22, x + 190, y)
    drawing.text(450, 412, "red: a fault while the CPU delivers one; blue: the CPU's own step; yellow: kernel code",
                 size=12, colour=MUTED)
    return drawing


def descriptor_tables(chapter: str = "06-double-faults") -> Drawing:
    gdt = struct_fields(chapter, "gdt.h", "GlobalDescriptorTable")
    tss = struct_fields(chapter, "tss.h", "TaskStateSegment")
    stack = re.search(r"kDoubleFaultStack = InterruptStack::Stack(\d)", source(chapter, "tss.h"))[1]
    drawing = Drawing(960, 350, "The chain from the IDT's double fault gate to its stack")
    # The IDT and its gate for vector 8.
    drawing.labelled_box(20, 40, 190, 40, ["IDTR (lidt)"], CPU)
    drawing.arrow(115, 80, 115, 110)
    for index, label in enumerate(["gate 0: #DE", "...", "gate 8: #DF", "...", "gate 255"]):
        drawing.labelled_box(20, 110 + index * 34, 190, 34, [label], CODE if index == 2 else svg.PAPER)
    drawing.text(115, 300, f"#DF's gate: selector 0x08, IST {stack}", size=12)
    # The GDT.
    drawing.labelled_box(300, 40, 220, 40, ["GDTR (lgdt), TR (ltr 0x10)"], CPU)
    drawing.arrow(410, 80, 410, 110)
    y = 110
    for field in gdt:
        height = 34 * field.size // 8
        drawing.labelled_box(300, y, 220, height, [f"{field.offset:#04x}: {field.name.replace('_', ' ')}"],
                             CODE if field.name == "task_state_segment" else svg.PAPER)
        if field.name == "task_state_segment":
            tss_descriptor_y = y + height / 2
        y += height
    drawing.arrow(210, 195, 300, 161)  # the gate's selector names the code segment
    # The TSS.
    y = 40
    for field in tss:
        if field.name.startswith("reserved"):
            continue
        label = {"privilege_stack_table": "RSP0-RSP2", "interrupt_stack_table": "IST1-IST7",
                 "io_map_base": "I/O map base"}.get(field.name, field.name)
        height = 24 if field.size < 16 else 18 + field.size // 4
        drawing.labelled_box(610, y, 190, height, [f"+{field.offset}: {label}"],
                             CODE if field.name == "interrupt_stack_table" else svg.PAPER)
        if field.name == "interrupt_stack_table":
            ist_y = y + 12
        y += height + 6
    drawing.text(705, 28, "TSS (tss.h)", size=13, bold=True)
    drawing.arrow(520, tss_descriptor_y, 610, 52)
    drawing.labelled_box(830, 150, 110, 150, ["#DF stack", "grows down", "", "guard page", "below it"], CPU)
    drawing.arrow(800, ist_y, 830, 160)
    drawing.text(480, 335, f"The CPU reads IST{stack} from the TSS that TR selects, and switches to that stack "
                 "before it pushes the frame.", size=12, colour=MUTED)
    return drawing


def segment_descriptor(chapter: str = "06-double-faults") -> Drawing:
    fields, kernel_code = descriptor_layout(chapter)
    drawing = Drawing(960, 230, "An 8-byte segment descriptor")
    scale, left = 28, 32
    for row, (first, last) in enumerate([(32, 63), (0, 31)]):
        y = 50 + row * 90
        for low, high, what in fields:
            low_in_row, high_in_row = max(low, first), min(high, last)
            if low_in_row > high_in_row:
                continue
            x = left + (last - high_in_row) * scale
            width = (high_in_row - low_in_row + 1) * scale
            value = (kernel_code >> low_in_row) & ((1 << (high_in_row - low_in_row + 1)) - 1)
            drawing.box(x, y, width, 38, CPU if "access" in what or "flags" in what else svg.PAPER)
            drawing.text(x + width / 2, y + 16, what, size=12 if width > 150 else 10)
            drawing.text(x + width / 2, y + 32, f"{value:#x}", size=11, monospace=True, colour=MUTED)
            drawing.text(x + 2, y - 4, str(high_in_row), anchor="start", size=9, colour=MUTED)
            drawing.text(x + width - 2, y - 4, str(low_in_row), anchor="end", size=9, colour=MUTED)
    drawing.text(left, 24, f"Bits as gdt.h lists them; the grey values are the kernel's code segment, "
                 f"{kernel_code:#018x}, which gdt.h's static_assert checks.", anchor="start", size=12)
    drawing.text(left, 200, "access byte 0x9b: present, DPL 0, code or data, execute/read, accessed;  "
                 "flags 0x2: L, 64-bit code", anchor="start", size=12, colour=MUTED)
    return drawing


def idt_gate(chapter: str = "05-cpu-exceptions") -> Drawing:
    fields = struct_fields(chapter, "idt.h", "GateDescriptor")
    drawing = Drawing(960, 190 + 18 * len(fields), "A 64-bit IDT gate: 16 bytes")
    scale, left, bytes_per_row = 110, 40, 8
    for field in fields:
        row, column = divmod(field.offset, bytes_per_row)
        x, y, width = left + column * scale, 50 + row * 70, field.size * scale
        drawing.box(x, y, width, 44, CODE if "offset" in field.name else CPU)
        drawing.text(x + width / 2, y + 20, field.name, size=11, monospace=True)
        drawing.text(x + width / 2, y + 36, f"{field.size} byte{'s' if field.size > 1 else ''}", size=10,
                     colour=MUTED)
        drawing.text(x + 2, y - 5, str(field.offset), anchor="start", size=10, colour=MUTED)
    for index, field in enumerate(fields):
        drawing.text(left, 200 + index * 18, f"{field.name}: {field.comment}", anchor="start", size=12)
    drawing.text(left, 24, "Byte offsets as idt.h's static_asserts check them; the handler's address is "
                 "split over three fields.", anchor="start", size=12)
    drawing.text(left, 200 + len(fields) * 18 + 4, "attributes 0x8e: present, DPL 0, 64-bit interrupt gate "
                 "(type 0xe)", anchor="start", size=12, colour=MUTED)
    return drawing


def vga_cell(chapter: str = "03-vga-text") -> Drawing:
    shift, palette = colour_byte(chapter)
    drawing = Drawing(960, 260, "A cell of the VGA text buffer")
    drawing.text(30, 24, "Row r, column c is the 2-byte cell at 0xb8000 + 2 * (80 * r + c):",
                 anchor="start", size=13)
    drawing.labelled_box(30, 50, 240, 60, ["byte 0: character", "code page 437, 'H' = 0x48"], CODE)
    bits = [(7, 7, "blink"), (6, shift, "background"), (shift - 1, 0, "foreground")]
    for high, low, what in bits:
        x = 270 + (7 - high) * 60
        width = (high - low + 1) * 60
        drawing.box(x, 50, width, 60, CPU)
        drawing.text(x + width / 2, 76, what, size=12)
        drawing.text(x + width / 2, 96, f"bits {high}-{low}" if high != low else f"bit {high}", size=11,
                     colour=MUTED)
    drawing.text(510, 126, "byte 1: attribute", size=12, colour=MUTED)
    for number, name in sorted(palette.items()):
        x, y = 30 + (number % 8) * 112, 160 + (number // 8) * 40
        drawing.text(x, y, f"{number:2d} {name}", anchor="start", size=12, monospace=True)
    drawing.text(30, 246, f"The palette of vga.h's Color; the attribute is background << {shift} | foreground, "
                 "so 0x0a is light green on black.", anchor="start", size=12, colour=MUTED)
    return drawing


def amount(size: int) -> str:
    """A size as a reader takes it in: 104 bytes, 16 KiB, 10.1 KiB."""
    if size < 1024:
        return f"{size} bytes"
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size / 1024:.1f} KiB"


def defined_in_kernel(elf: ElfFile, name: str):
    """A symbol by its plain name, also when it is a C++ name in an
    anonymous namespace (_ZN12_GLOBAL__N_1<length><name>E)."""
    mangled = f"{len(name)}{name}E"
    for symbol in elf.symbols:
        if symbol.defined and (symbol.name == name or
                               (symbol.name.startswith("_ZN") and symbol.name.endswith(mangled))):
            return symbol
    raise FactsDisagree(f"{elf.path}: no symbol {name}, which the memory map shows")


def memory_map(kernel: Path) -> Drawing:
    """The first MiBs of physical memory as chapter 6's kernel uses them,
    from the addresses and sizes of its sections and symbols."""
    elf = ElfFile(kernel)
    page = 4096

    def at(name: str) -> int:
        return defined_in_kernel(elf, name).value

    def extent(name: str) -> tuple[int, int]:
        symbol = defined_in_kernel(elf, name)
        return symbol.value, symbol.value + symbol.size

    regions = [(0xb8000, 0xb8000 + 80 * 25 * 2, "VGA text buffer (not RAM)", NEUTRAL)]
    for section in elf.sections:
        if section.name in (".text", ".rodata", ".data") and section.size:
            regions.append((section.address, section.address + section.size, f"{section.name} section", CODE))
    double_fault_stack = extent("double_fault_stack_memory")
    regions += [
        (at("pml4"), at("pml4") + 3 * page, "boot page tables: PML4, PDPT, PD", CPU),
        (at("stack_guard"), at("stack_bottom"), "guard pages of the kernel stack", UNMAPPED),
        (at("stack_bottom"), at("stack_top"), "kernel stack", CODE),
        (double_fault_stack[0], double_fault_stack[0] + page, "guard page of the #DF stack", UNMAPPED),
        (double_fault_stack[0] + page, double_fault_stack[1], "double fault stack (IST1)", CODE),
        (*extent("task_state_segment"), "task state segment", CPU),
        (*extent("split_tables"), "page tables to split 2 MiB pages", CPU),
    ]
    regions.sort()
    row = 30
    drawing = Drawing(760, 0, "Physical memory as chapter 6's kernel uses it")
    drawing.text(30, 24, "Low to high, from the symbols of chapter 6's kernel.elf; "
                 "the kernel runs where it lies (identity mapping).", anchor="start", size=12)
    y, previous_end = 44, None
    for begin, end, what, fill in regions:
        if previous_end is not None and begin > previous_end:
            drawing.text(330, y + 12, f"{amount(begin - previous_end)} not shown", size=11, colour=MUTED)
            y += 18
        drawing.text(190, y + 19, f"{begin:#010x}", anchor="end", size=12, monospace=True)
        drawing.box(200, y, 260, row - 2, fill, dashed=fill == UNMAPPED)
        drawing.text(330, y + 19, what, size=12)
        drawing.text(470, y + 19, amount(end - begin), anchor="start", size=12, colour=MUTED)
        y, previous_end = y + row, end
    drawing.text(30, y + 20, "Red, dashed: pages the kernel unmaps, so that a stack overflow faults.",
                 anchor="start", size=12, colour=MUTED)
    drawing.height = y + 36
    return drawing


def figures(kernel: Path) -> dict[str, Drawing]:
    return {
        "boot-flow": boot_flow(),
        "address-split": address_split(),
        "vga-cell": vga_cell(),
        "exception-stack": exception_stack(),
        "idt-gate": idt_gate(),
        "double-fault-paths": double_fault_paths(),
        "descriptor-tables": descriptor_tables(),
        "segment-descriptor": segment_descriptor(),
        "memory-map": memory_map(kernel),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", type=Path, default=DEFAULT_KERNEL,
                        help="chapter 6's kernel.elf, for the memory map (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=FIGURES, help="where the SVG files go")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; list the files of --output that differ and fail if any does")
    arguments = parser.parse_args()
    if not arguments.kernel.is_file():
        raise SystemExit(f"{arguments.kernel} does not exist; build it with: make build CH=06")
    drawn = {f"{name}.svg": drawing.svg() for name, drawing in figures(arguments.kernel).items()}
    if arguments.check:
        def differs(name: str, text: str) -> bool:
            path = arguments.output / name
            return not path.is_file() or path.read_text() != text
        stale = sorted(name for name, text in drawn.items() if differs(name, text))
        extra = sorted(path.name for path in arguments.output.glob("*.svg") if path.name not in drawn)
        for name in stale:
            print(f"{arguments.output / name} is not what figures.py draws", file=sys.stderr)
        for name in extra:
            print(f"{arguments.output / name} is drawn by nothing", file=sys.stderr)
        raise SystemExit(1 if stale or extra else 0)
    arguments.output.mkdir(parents=True, exist_ok=True)
    for name, text in drawn.items():
        (arguments.output / name).write_text(text)


if __name__ == "__main__":
    main()
