"""The checkers can fail. test_boot_state.py judges every chapter's kernel
with the checkers of boot_state.py and descriptor_tables.py, and wants no
problem; chapters 5 and 6 hold their exception reports to QEMU's log with
those of exception_reports.py; the chapters' screens are read with
vga_screen.py's expect_contains and expect_absent; every kernel file is
held to multiboot2_header.py, kernel_layout.py and red_zone.py; and
interrupt_log.py reads where in QEMU's log a boot begins, and elf.py
which variable holds the IDT. But a
healthy kernel is all they ever see, so a checker that found nothing at
all would pass there too. Here each checker is fed a state made up to be
right, which it must accept, and then the same state with one thing
wrong, which it must name.

The made-up machine is the one chapter 2 describes: the tables at 0x1000
(PML4), 0x2000 (PDPT) and 0x3000 (page directory), a GDT of the null
descriptor and one 64-bit code segment, and chapter 6's IDT and TSS.
"""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import replace
from functools import partial
from types import SimpleNamespace

import pytest

import boot_state
import descriptor_tables
import exception_reports
import interrupt_log
import kernel_layout
import line_settings
import multiboot2_header
import red_zone
from boot_state import HUGE, HUGE_PAGE_SIZE, PAGE_SIZE, PRESENT, USER, WRITABLE, PageTables
from descriptor_tables import TableRegister
from elf import (SECTION_ALLOC, SECTION_EXECUTE, SECTION_WRITE, SEGMENT_EXECUTE, SEGMENT_READ, SEGMENT_WRITE,
                 ElfFile, ProgramHeader, Section)
from gdb_stub import EFLAGS, INTERRUPT_FLAG, RIP
from interrupt_log import DeliveredInterrupt
from line_settings import LineSettings
from registers import Registers
from verdict import KernelFailure
from vga_screen import COLUMNS, ROWS, Screen

PML4, PDPT, PAGE_DIRECTORY = 0x1000, 0x2000, 0x3000
SPLIT_TABLE = 0x4000
KERNEL_CODE = 0x08


def identity_map() -> PageTables:
    return PageTables(PML4, PDPT, PAGE_DIRECTORY,
                      pml4=[PDPT | PRESENT | WRITABLE] + [0] * 511,
                      pdpt=[PAGE_DIRECTORY | PRESENT | WRITABLE] + [0] * 511,
                      page_directory=[index * HUGE_PAGE_SIZE | PRESENT | WRITABLE | HUGE for index in range(512)])


def with_entry(tables: PageTables, table: str, index: int, entry: int) -> PageTables:
    entries = list(getattr(tables, table))
    entries[index] = entry
    return replace(tables, **{table: entries})


def test_the_identity_map_has_no_problem_and_the_cpus_own_bits_are_none():
    accessed_and_dirty = boot_state.ACCESSED | boot_state.DIRTY
    tables = with_entry(identity_map(), "page_directory", 1, HUGE_PAGE_SIZE | PRESENT | WRITABLE | HUGE |
                        accessed_and_dirty)
    assert boot_state.identity_map_problems(tables) == []


@pytest.mark.parametrize("table, index, entry, named", [
    ("pml4", 0, PDPT | PRESENT, "PML4[0] = 0x2001"),
    ("pml4", 1, PDPT | PRESENT | WRITABLE, "PML4[1] = 0x2003 (present+writable): should be empty"),
    ("pdpt", 0, 0x5000 | PRESENT | WRITABLE, "to 0x5000): should be 0x3003"),
    ("page_directory", 511, 0, "page directory[511] = 0x0 (none, to 0x0): should be"),
    ("page_directory", 3, 3 * HUGE_PAGE_SIZE | PRESENT | WRITABLE | HUGE | USER, "present+writable+user+huge"),
    ("page_directory", 4, 5 * HUGE_PAGE_SIZE | PRESENT | WRITABLE | HUGE, "to 0xa00000): should be 0x800083"),
    ("page_directory", 5, 5 * HUGE_PAGE_SIZE | PRESENT | WRITABLE, "should be 0xa00083"),
], ids=["read-only", "second-pml4-entry", "pdpt-elsewhere", "last-gigabyte-page-missing", "user", "wrong-frame",
        "not-huge"])
def test_each_entry_unlike_the_identity_map_is_named(table, index, entry, named):
    problems = boot_state.identity_map_problems(with_entry(identity_map(), table, index, entry))
    assert len(problems) == 1 and named in problems[0], problems


GUARD_PAGE = range(HUGE_PAGE_SIZE + 3 * PAGE_SIZE, HUGE_PAGE_SIZE + 4 * PAGE_SIZE)


def split_for_the_guard_page(guard_entry: int = 0) -> tuple[PageTables, dict[int, list[int]]]:
    """The map with the second 2 MiB page split into 4 KiB pages, and the
    guard page's entry as given."""
    tables = with_entry(identity_map(), "page_directory", 1, SPLIT_TABLE | PRESENT | WRITABLE)
    pages = [HUGE_PAGE_SIZE + index * PAGE_SIZE | PRESENT | WRITABLE for index in range(512)]
    pages[3] = guard_entry
    return tables, {1: pages}


def test_a_guard_page_unmapped_in_a_split_page_has_no_problem():
    tables, split = split_for_the_guard_page()
    assert boot_state.identity_map_problems(tables, split, unmapped=[GUARD_PAGE]) == []


def test_a_guard_page_left_mapped_is_named():
    tables, split = split_for_the_guard_page(GUARD_PAGE.start | PRESENT | WRITABLE)
    problems = boot_state.identity_map_problems(tables, split, unmapped=[GUARD_PAGE])
    assert problems == ["page table of page directory[1][3] = 0x203003 (present+writable): "
                        "should be empty"]


def test_a_split_page_directory_entry_with_other_rights_than_the_huge_page_is_named():
    tables, split = split_for_the_guard_page()
    tables = with_entry(tables, "page_directory", 1, SPLIT_TABLE | PRESENT | WRITABLE | USER)
    problems = boot_state.identity_map_problems(tables, split, unmapped=[GUARD_PAGE])
    assert problems == ["page directory[1] = 0x4007 (present+writable+user, to 0x4000): "
                        "should be 0x4003 (present+writable, to 0x4000)"]


def test_a_guard_page_in_an_unsplit_page_is_named():
    problems = boot_state.identity_map_problems(identity_map(), {}, unmapped=[GUARD_PAGE])
    assert len(problems) == 1 and "which should be unmapped" in problems[0], problems


def machine_with(memory: dict[int, bytes] | None = None, **symbols: int) -> SimpleNamespace:
    """A stand-in for Machine: symbols by name, and memory by the address
    each read starts at."""
    memory = memory or {}
    return SimpleNamespace(symbol=lambda name: SimpleNamespace(value=symbols[name]),
                           read_memory=lambda address, size: memory[address][:size])


def test_an_entry_written_past_the_page_directory_is_named():
    past = PAGE_DIRECTORY + boot_state.TABLE_SIZE
    clean = machine_with({past: bytes(8)})
    written = machine_with({past: (512 * HUGE_PAGE_SIZE | PRESENT | WRITABLE | HUGE).to_bytes(8, "little")})
    assert boot_state.past_the_page_directory_problems(clean, identity_map()) == []
    problems = boot_state.past_the_page_directory_problems(written, identity_map())
    assert len(problems) == 1 and "wrote a 513th entry" in problems[0], problems


LONG_MODE_REGISTERS = {"CR0": 0x80010011, "CR3": PML4, "CR4": 0x20, "EFER": 0x500}


def registers(values: dict[str, int], text: str = "") -> Registers:
    return Registers(" ".join(f"{name}={value:016x}" for name, value in values.items()) + "\n" + text)


def test_the_registers_of_long_mode_have_no_problem():
    assert boot_state.control_register_problems(registers(LONG_MODE_REGISTERS), PML4) == []


@pytest.mark.parametrize("register, bit, named", [
    ("CR0", boot_state.CR0_PROTECTED_MODE, "CR0.PE"), ("CR0", boot_state.CR0_PAGING, "CR0.PG"),
    ("CR0", boot_state.CR0_WRITE_PROTECT, "CR0.WP"), ("CR4", boot_state.CR4_PAE, "CR4.PAE"),
    ("EFER", boot_state.EFER_LONG_MODE_ENABLE, "EFER.LME"), ("EFER", boot_state.EFER_LONG_MODE_ACTIVE, "EFER.LMA"),
], ids=["PE", "PG", "WP", "PAE", "LME", "LMA"])
def test_each_bit_of_long_mode_clear_is_named(register, bit, named):
    values = dict(LONG_MODE_REGISTERS, **{register: LONG_MODE_REGISTERS[register] & ~bit})
    problems = boot_state.control_register_problems(registers(values), PML4)
    assert len(problems) == 1 and problems[0].startswith(f"{named} ") and "is clear" in problems[0], problems


def test_cr3_pointing_at_another_table_is_named():
    values = dict(LONG_MODE_REGISTERS, CR3=PDPT)
    assert boot_state.control_register_problems(registers(values), PML4) == \
        ["CR3 points to 0x2000, not to boot.asm's PML4 at 0x1000"]


@pytest.mark.parametrize("flags", [PRESENT | WRITABLE, 0x18], ids=["table-entry-flags", "pwt-pcd"])
def test_cr3_holding_flags_beside_the_pml4_is_named(flags):
    values = dict(LONG_MODE_REGISTERS, CR3=PML4 | flags)
    problems = boot_state.control_register_problems(registers(values), PML4)
    assert len(problems) == 1 and problems[0].startswith(f"CR3={PML4 | flags:#x} holds {flags:#x} beside the "
                                                         "PML4's address"), problems


@pytest.mark.parametrize("gdtr, named", [
    (TableRegister(0x6000, 0xF), None),
    (TableRegister(0x6000, 0xFFFF), "GDTR's limit 0xffff covers 65536 bytes, but boot.asm's GDT"),
    (TableRegister(0x6000, 0x17), "GDTR's limit 0x17 covers 24 bytes"),
    (TableRegister(0x7000, 0xF), "GDTR's base is 0x7000, not boot.asm's GDT at 0x6000"),
], ids=["right", "real-mode-limit", "one-descriptor-more", "another-table"])
def test_gdtr_past_or_beside_the_gdt_is_named(gdtr, named):
    problems = boot_state.gdt_register_problems(gdtr, 0x6000, 0x6010)
    if named is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(named), problems


@pytest.mark.parametrize("rsp, where", [(0x8000, None), (0x9000, None), (0x7000, "below stack_bottom"),
                                            (0x9008, "above stack_top")])
def test_a_stack_pointer_outside_the_boot_stack_is_named(rsp, where):
    machine = machine_with(stack_bottom=0x7000, stack_top=0x9000)
    problems = boot_state.stack_problems(machine, registers({"RSP": rsp}))
    if where is None:
        assert problems == []
    else:
        assert problems == [f"RSP={rsp:#x} is {where}: the stack is 0x7000-0x9000"]


@pytest.mark.parametrize("flags, stack_pointer, mode_bits, named", [
    (0x2, 0x8FF8, 64, None), (0x2, 0x8FFC, 32, None),
    (0x402, 0x8FF8, 64, "the direction flag"), (0x2, 0x8FF0, 64, "RSP+8 must be a multiple of 16"),
    (0x2, 0x8FF8, 32, "ESP+4 must be a multiple of 16"),
], ids=["64-bit", "32-bit", "direction-flag", "64-bit-misaligned", "32-bit-misaligned"])
def test_the_first_call_wants_df_clear_and_an_aligned_stack(flags, stack_pointer, mode_bits, named):
    problems = boot_state.first_call_problems(flags, stack_pointer, mode_bits)
    if named is None:
        assert problems == []
    else:
        assert len(problems) == 1 and named in problems[0], problems


@pytest.mark.parametrize("untouched, named", [(boot_state.STACK_HEADROOM, False),
                                              (boot_state.STACK_HEADROOM - 1, True)])
def test_a_stack_written_into_its_headroom_is_named(untouched, named):
    size = 0x100
    stack = boot_state.STACK_PAINT * untouched + b"\x00" * (size - untouched)
    machine = machine_with({0x7000: stack}, stack_bottom=0x7000, stack_top=0x7000 + size)
    problems = boot_state.stack_depth_problems(machine)
    assert bool(problems) == named, problems


# --- the plays of a halt ------------------------------------------------------------------------

CLI, HLT, JMP_SHORT = 0xFA, boot_state.HLT, 0xEB
HALT_FOREVER = 0x100200


class SteppedCpu:
    """A stand-in for GdbStub over a CPU whose instructions are one byte
    each, as far as stepping goes; the one it knows is cli."""

    def __init__(self, code: bytes, at: int = HALT_FOREVER, flags: int = 0x2):
        self.code, self.at = code, at
        self.registers = {RIP: at, EFLAGS: flags}

    def run_to(self, address: int) -> None:
        self.registers[RIP] = address

    def read_register(self, number: int) -> int:
        return self.registers[number]

    def write_register(self, number: int, value: int) -> None:
        self.registers[number] = value

    def read_memory(self, address: int, size: int) -> bytes:
        return self.code[address - self.at:address - self.at + size]

    def step(self) -> None:
        if self.read_memory(self.registers[RIP], 1)[0] == CLI:
            self.registers[EFLAGS] &= ~INTERRUPT_FLAG
        self.registers[RIP] += 1

    def detach(self) -> None:
        pass


def halting_machine(halts_at: int | None = None) -> SimpleNamespace:
    """A stand-in for Machine: halt_forever's address, and where the CPU,
    let go, halts next (RIP past the hlt)."""
    return SimpleNamespace(symbol=lambda name: SimpleNamespace(value={"halt_forever": HALT_FOREVER}[name]),
                           describe_address=lambda address: f"halt_forever+{address - HALT_FOREVER:#x}",
                           wait_until_halted=lambda: registers({"RIP": halts_at + 1}))


@pytest.mark.parametrize("code, named", [(bytes([CLI, HLT, JMP_SHORT, 0xFD]), False), (bytes([HLT]), True)],
                         ids=["cli-first", "no-cli"])
def test_a_halt_called_with_interrupts_on_must_turn_them_off(code, named):
    # The CPU, let go after the play, halts again at the same hlt.
    hlt = HALT_FOREVER + code.index(HLT)
    cpu = SteppedCpu(code)
    problems = boot_state.halt_forever_problems(halting_machine(hlt), cpu)
    assert bool(problems) == named, problems
    if named:
        assert len(problems) == 1 and "the interrupt flag is still set (no cli before the hlt)" in problems[0]
    assert not cpu.registers[EFLAGS] & INTERRUPT_FLAG, "the non-maskable interrupt is played with interrupts off"


@pytest.mark.parametrize("halts_again_at, named", [(HALT_FOREVER + 1, False), (HALT_FOREVER + 3, True)],
                         ids=["the-same-hlt", "a-later-hlt"])
def test_a_halt_woken_by_a_non_maskable_interrupt_must_halt_again_at_its_hlt(halts_again_at, named):
    # cli, hlt, then what follows: a jump back to the hlt, or another hlt.
    cpu = SteppedCpu(bytes([CLI, HLT, 0x90, HLT]))
    problems = boot_state.non_maskable_interrupt_problems(halting_machine(halts_again_at), cpu, HALT_FOREVER)
    assert bool(problems) == named, problems
    if named:
        assert "it halted at 0x100203 (halt_forever+0x3) instead" in problems[0]
    assert cpu.registers[RIP] == HALT_FOREVER + 2, "the play goes on past the hlt, as an NMI's iretq does"


def test_no_hlt_within_reach_of_the_halt_is_said():
    with pytest.raises(AssertionError, match=f"no hlt within {boot_state.INSTRUCTIONS_BEFORE_THE_HLT} instructions"):
        boot_state.step_to_the_hlt(SteppedCpu(bytes([0x90]) * 64))


# --- descriptor tables ------------------------------------------------------------------------

NULL_DESCRIPTOR = 0
CODE_64 = 0x0020_9A00_0000_0000  # present, DPL 0, code (execute/read), L
DATA = 0x0000_9200_0000_0000  # present, DPL 0, data (read/write)


def gdt(*descriptors: int) -> tuple[TableRegister, bytes]:
    table = b"".join(descriptor.to_bytes(8, "little") for descriptor in descriptors)
    return TableRegister(0x6000, len(table) - 1), table


def test_a_null_descriptor_then_a_64_bit_code_segment_has_no_problem():
    assert descriptor_tables.gdt_problems(*gdt(NULL_DESCRIPTOR, CODE_64), KERNEL_CODE) == []


@pytest.mark.parametrize("entries, limit_change, code_selector, named", [
    ((NULL_DESCRIPTOR, CODE_64), +1, KERNEL_CODE, "is not a whole number of 8-byte descriptors"),
    ((DATA, CODE_64), 0, KERNEL_CODE, "GDT entry 0 is 0000000000920000, not the null descriptor"),
    ((NULL_DESCRIPTOR, CODE_64), 0, KERNEL_CODE | 0b11, "requests privilege level 3"),
    ((NULL_DESCRIPTOR, CODE_64), 0, KERNEL_CODE | 0b100, "names the LDT"),
    ((NULL_DESCRIPTOR, CODE_64), 0, 0x10, "lies past the GDT's limit"),
    ((NULL_DESCRIPTOR, CODE_64 & ~descriptor_tables.PRESENT), 0, KERNEL_CODE, "has present clear"),
    ((NULL_DESCRIPTOR, CODE_64 & ~descriptor_tables.EXECUTABLE), 0, KERNEL_CODE, "has executable clear"),
    ((NULL_DESCRIPTOR, CODE_64 & ~descriptor_tables.CODE_OR_DATA), 0, KERNEL_CODE, "has S (code or data) clear"),
    ((NULL_DESCRIPTOR, CODE_64 | descriptor_tables.CONFORMING), 0, KERNEL_CODE, "has C (conforming"),
    ((NULL_DESCRIPTOR, CODE_64 & ~descriptor_tables.LONG_MODE), 0, KERNEL_CODE, "has L (64-bit code) clear"),
    ((NULL_DESCRIPTOR, CODE_64 | descriptor_tables.DEFAULT_SIZE), 0, KERNEL_CODE, "has D (must be clear with L) set"),
    ((NULL_DESCRIPTOR, CODE_64 | 3 << 45), 0, KERNEL_CODE, "has DPL 3, not 0"),
], ids=["limit-not-whole", "no-null-descriptor", "cs-rpl-3", "cs-in-ldt", "cs-past-the-limit", "not-present",
        "not-executable", "system", "conforming", "not-64-bit", "d-with-l", "dpl-3"])
def test_each_way_the_gdt_or_cs_is_wrong_is_named(entries, limit_change, code_selector, named):
    gdtr, table = gdt(*entries)
    gdtr = TableRegister(gdtr.base, gdtr.limit + limit_change)
    problems = descriptor_tables.gdt_problems(gdtr, table + bytes(limit_change), code_selector)
    assert len(problems) == 1 and named in problems[0], problems


def segment_registers(**selectors: int) -> Registers:
    return registers(dict(dict.fromkeys(descriptor_tables.DATA_SEGMENT_REGISTERS, 0), **selectors))


@pytest.mark.parametrize("selectors", [{}, {"SS": 0x10, "DS": 0x10}, {"SS": 0x03}],
                         ids=["null", "data-segment", "null-with-rpl-3"])
def test_data_segment_registers_with_null_or_data_selectors_have_no_problem(selectors):
    assert descriptor_tables.data_segment_problems(*gdt(NULL_DESCRIPTOR, CODE_64, DATA),
                                                   segment_registers(**selectors)) == []


@pytest.mark.parametrize("selectors, data, named", [
    ({"DS": 0x18}, DATA, "DS selector 0x0018 lies past the GDT's limit"),
    ({"ES": 0x13}, DATA, "ES selector 0x0013 requests privilege level 3"),
    ({"FS": KERNEL_CODE}, DATA, "the descriptor FS names 0x00209a0000000000 has executable set"),
    ({"SS": 0x10}, DATA & ~descriptor_tables.WRITABLE, "has W (writable) clear"),
    ({"GS": 0x10}, DATA & ~descriptor_tables.PRESENT, "has present clear"),
    ({"DS": 0x10}, DATA | 3 << 45, "has DPL 3, not 0"),
], ids=["loaders-selector", "rpl-3", "code-segment", "read-only-stack", "not-present", "dpl-3"])
def test_each_wrong_data_segment_register_is_named(selectors, data, named):
    problems = descriptor_tables.data_segment_problems(*gdt(NULL_DESCRIPTOR, CODE_64, data),
                                                       segment_registers(**selectors))
    assert len(problems) == 1 and named in problems[0], problems


def code_segment_line(upper_dword: int) -> Registers:
    return Registers(f"CS =0008 0000000000000000 ffffffff {upper_dword:08x} DPL=0 CS64 [-R-]\n")


def test_cs_holding_a_copy_of_its_gdt_entry_has_no_problem_whether_accessed_or_not():
    gdtr, table = gdt(NULL_DESCRIPTOR, CODE_64)
    for upper in (CODE_64 >> 32, CODE_64 >> 32 | 1 << 8):
        assert descriptor_tables.code_segment_copy_problems(gdtr, table, code_segment_line(upper)) == []


def test_cs_holding_a_copy_of_another_descriptor_is_named():
    # GRUB's 32-bit code segment, still in CS after the GDT changed.
    gdtr, table = gdt(NULL_DESCRIPTOR, CODE_64)
    problems = descriptor_tables.code_segment_copy_problems(gdtr, table, code_segment_line(0x00CF9A00))
    assert problems == ["CS=0x0008 holds a descriptor whose upper half is 0x00cf9a00, but the GDT's entry 0x0008 "
                        "has 0x00209a00"]


HANDLERS = [0x100000 + 0x10 * vector for vector in range(descriptor_tables.EXCEPTION_VECTORS)]
DOUBLE_FAULT = 8


def gate(offset: int, selector: int = KERNEL_CODE, interrupt_stack: int = 0, gate_type: int = 0xE,
         privilege: int = 0, present: bool = True, reserved: int = 0) -> bytes:
    return struct.pack("<HHBBHII", offset & 0xFFFF, selector, interrupt_stack,
                       present << 7 | privilege << 5 | gate_type, offset >> 16 & 0xFFFF, offset >> 32, reserved)


def idt(changed: dict[int, bytes] | None = None, size: int = 256 * 16) -> tuple[TableRegister, bytes]:
    """Chapter 6's IDT: a gate for each exception, the double fault's on
    IST1, and 256 gates in all; changed gates replace the right ones."""
    gates = {vector: gate(HANDLERS[vector], interrupt_stack=1 if vector == DOUBLE_FAULT else 0)
             for vector in range(descriptor_tables.EXCEPTION_VECTORS)} | (changed or {})
    table = b"".join(gates.get(vector, bytes(16)) for vector in range(256))[:size]
    return TableRegister(0x7000, size - 1), table


def test_an_interrupt_gate_into_each_handler_has_no_problem():
    assert descriptor_tables.idt_problems(*idt(), KERNEL_CODE, HANDLERS, {DOUBLE_FAULT: 1}) == []


@pytest.mark.parametrize("changed, size, named", [
    ({}, 256 * 16 - 1, "is not a whole number of 16-byte gates"),
    ({}, 31 * 16, "leaves out some of the 32 exception vectors"),
    ({3: gate(HANDLERS[3], present=False)}, 4096, "gate 3 is not present"),
    ({3: gate(HANDLERS[3], gate_type=0xF)}, 4096, "gate 3 has type 0xf, not a 64-bit interrupt gate"),
    ({3: gate(HANDLERS[3], privilege=3)}, 4096, "gate 3 has DPL 3"),
    ({3: gate(HANDLERS[3], selector=0x10)}, 4096, "gate 3 names code segment 0x0010"),
    ({3: gate(HANDLERS[4])}, 4096, "gate 3 points at 0x100040, not at its handler 0x100030"),
    ({3: gate(HANDLERS[3] | 1 << 32)}, 4096, "gate 3 points at 0x100100030"),
    ({3: gate(HANDLERS[3], interrupt_stack=1)}, 4096, "gate 3 switches to IST1, not the current stack"),
    ({DOUBLE_FAULT: gate(HANDLERS[DOUBLE_FAULT])}, 4096, "gate 8 switches to IST0, not IST1"),
    ({3: gate(HANDLERS[3], reserved=1)}, 4096, "gate 3 has reserved bits set"),
    ({3: gate(HANDLERS[3], interrupt_stack=0b1000)}, 4096, "gate 3 has reserved bits set"),
    ({3: gate(HANDLERS[3], gate_type=0x10 | descriptor_tables.INTERRUPT_GATE)}, 4096, "gate 3 has reserved bits set"),
    ({40: gate(HANDLERS[3])}, 4096, "gate 40 is present"),
], ids=["limit-not-whole", "too-small", "not-present", "trap-gate", "dpl-3", "selector", "offset",
        "offset-high-half", "ist-where-none", "no-ist", "reserved-high", "reserved-ist-byte", "s-bit",
        "present-past-32"])
def test_each_way_a_gate_is_wrong_is_named(changed, size, named):
    problems = descriptor_tables.idt_problems(*idt(changed, size), KERNEL_CODE, HANDLERS, {DOUBLE_FAULT: 1})
    assert len(problems) == 1 and named in problems[0], problems


TASK_STATE_SEGMENT = 0x5000
TASK_REGISTER = 0x10
IST1_TOP = 0x9000


def tss_descriptor(base: int = TASK_STATE_SEGMENT, limit: int = 103, descriptor_type: int = 0xB,
                   privilege: int = 0, present: bool = True, upper_reserved: int = 0,
                   granularity: bool = False) -> tuple[int, int]:
    low = (limit & 0xFFFF | (base & 0xFF_FFFF) << 16 | descriptor_type << 40 | privilege << 45 | present << 47
           | (limit >> 16 & 0xF) << 48 | granularity << 55 | (base >> 24 & 0xFF) << 56)
    return low, base >> 32 | upper_reserved << 32


def task_state_segment(ist1: int = IST1_TOP, io_map_base: int = 104) -> bytes:
    segment = bytearray(104)
    segment[descriptor_tables.IST_OFFSET:descriptor_tables.IST_OFFSET + 8] = ist1.to_bytes(8, "little")
    segment[descriptor_tables.IO_MAP_BASE_OFFSET:descriptor_tables.IO_MAP_BASE_OFFSET + 2] = \
        io_map_base.to_bytes(2, "little")
    return bytes(segment)


def tss_problems(descriptor: tuple[int, int] = tss_descriptor(), segment: bytes = task_state_segment(),
                 task_register: int = TASK_REGISTER, ist1_top: int = IST1_TOP) -> list[str]:
    gdtr, table = gdt(NULL_DESCRIPTOR, CODE_64, *descriptor)
    return descriptor_tables.task_state_segment_problems(machine_with({TASK_STATE_SEGMENT: segment}), gdtr, table,
                                                         task_register, TASK_STATE_SEGMENT, ist1_top)


def test_the_kernels_tss_with_the_double_fault_stack_has_no_problem():
    assert tss_problems() == []


@pytest.mark.parametrize("descriptor, segment, task_register, named", [
    (tss_descriptor(), task_state_segment(), TASK_REGISTER | 0b11, "TR selector 0x0013 requests privilege level 3"),
    (tss_descriptor(), task_state_segment(), 0x18, "lie past the GDT's limit"),
    (tss_descriptor(present=False), task_state_segment(), TASK_REGISTER, "is not present"),
    (tss_descriptor(descriptor_type=0x9), task_state_segment(), TASK_REGISTER, "type 0x9, not a busy 64-bit TSS"),
    (tss_descriptor(privilege=3), task_state_segment(), TASK_REGISTER, "has DPL 3, not 0"),
    (tss_descriptor(upper_reserved=0x100), task_state_segment(), TASK_REGISTER, "has reserved bits set"),
    (tss_descriptor(base=TASK_STATE_SEGMENT + 8), task_state_segment(), TASK_REGISTER, "has base 0x5008"),
    (tss_descriptor(limit=0x60), task_state_segment(), TASK_REGISTER, "has limit 0x60, less than"),
    (tss_descriptor(), task_state_segment(ist1=IST1_TOP - 16), TASK_REGISTER, "IST1 in the TSS is 0x8ff0"),
    (tss_descriptor(), task_state_segment(io_map_base=0x60), TASK_REGISTER, "I/O map base 0x60 lies within"),
    # With G set the limit counts 4 KiB pages: 0x67 reaches 0x67fff, past the I/O map base.
    (tss_descriptor(granularity=True), task_state_segment(), TASK_REGISTER,
     "I/O map base 0x68 lies within its limit 0x67fff"),
], ids=["rpl-3", "past-the-limit", "not-present", "not-busy", "dpl-3", "reserved", "base", "limit",
        "ist1", "io-bitmap", "io-bitmap-in-a-limit-of-pages"])
def test_each_way_the_tss_is_wrong_is_named(descriptor, segment, task_register, named):
    problems = tss_problems(descriptor, segment, task_register)
    assert len(problems) == 1 and named in problems[0], problems


def test_an_ist1_off_the_16_byte_alignment_is_named_even_where_the_stack_tops():
    # The CPU aligns RSP down before it pushes: the frame lands 8 bytes
    # below where a kernel that put its stack's top there would look.
    misaligned_top = IST1_TOP - 8
    problems = tss_problems(segment=task_state_segment(ist1=misaligned_top), ist1_top=misaligned_top)
    assert problems == ["IST1 0x8ff8 is not 16-byte aligned"]


# --- exception reports against the CPU's account ------------------------------------------------

PAGE_FAULT_RIP = 0x102779
FAULTING_FUNCTION = "write_to_unmapped_memory"
CPU_REGISTERS = {register: 0x1000 + index for index, register in enumerate(exception_reports.GENERAL_REGISTERS)}


def page_fault_report(**changed: str) -> list[str]:
    """Chapter 5's report of a write to 0xdeadbeef, fields replaced by
    `changed`; a field given as "" is left out."""
    fields = {"error_code": "0x00000002", "present": "0", "write": "1", "user": "0", "reserved_bit": "0",
              "instruction_fetch": "0", "cr2": "0x00000000deadbeef", "rip": f"{PAGE_FAULT_RIP:#018x}",
              "cs": "0x0008", "rflags": "0x0000000000000002", "rsp": "0x000000000010bf20", "ss": "0x0000",
              **{register: f"{value:#018x}" for register, value in CPU_REGISTERS.items()}} | changed
    lines = [("error_code",), ("present", "write", "user", "reserved_bit", "instruction_fetch"), ("cr2",), ("rip",),
             ("cs", "rflags", "rsp", "ss")] + [exception_reports.GENERAL_REGISTERS[at:at + 3] for at in range(0, 15, 3)]
    text = []
    for names in lines:
        line = " ".join(f"{name}={fields[name]}" for name in names if fields[name])
        if "rip" in names:
            line += f" <{FAULTING_FUNCTION}+0x9>"
        text.append("  " + line)
    return [changed.get("heading", "EXCEPTION 14 #PF Page Fault")] + text


def report(**changed: str) -> exception_reports.Report:
    reports = exception_reports.parse_reports(page_fault_report(**changed))
    assert len(reports) == 1, reports
    return reports[0]


def delivery(**changed) -> DeliveredInterrupt:
    """QEMU's account of the same page fault: its v= line's fields and
    the register dump after it."""
    dump = " ".join(f"{register.upper()}={value:016x}" for register, value in CPU_REGISTERS.items())
    dump += "\nRSP=000000000010bf20 RIP=0000000000102779 RFL=00000002 [-------] CPL=0"
    fields = dict(vector=14, error_code=2, software=False, rip=PAGE_FAULT_RIP, cr2=0xDEADBEEF, dump=dump) | changed
    return DeliveredInterrupt(**fields)


def elf_naming(function_at: str) -> SimpleNamespace:
    return SimpleNamespace(function_at=lambda address: function_at)


def test_a_report_that_tells_what_the_cpu_had_passes_every_check():
    page_fault = report()
    exception_reports.check_heading(page_fault, 14)
    exception_reports.check_full_report(page_fault)
    exception_reports.check_symbol(page_fault, elf_naming(f"{FAULTING_FUNCTION}+0x9"), FAULTING_FUNCTION)
    exception_reports.check_error_code(page_fault, {"error_code": "0x00000002", "present": "0", "write": "1",
                                                    "user": "0", "reserved_bit": "0", "instruction_fetch": "0"})
    exception_reports.check_against_cpu(page_fault, delivery(), elf=None)


@pytest.mark.parametrize("heading, vector", [
    ("EXCEPTION 13 #PF Page Fault", 14), ("EXCEPTION 14 #GP Page Fault", 14), ("EXCEPTION 14 #PF Page fault", 14),
], ids=["vector", "mnemonic", "name"])
def test_a_heading_unlike_the_vectors_is_refused(heading, vector):
    with pytest.raises(AssertionError, match="expected the heading of vector 14, #PF Page Fault"):
        exception_reports.check_heading(report(heading=heading), vector)


@pytest.mark.parametrize("changed, named", [
    ({"rip": ""}, "the report lacks rip="),
    ({"r15": ""}, "the report lacks r15="),
    ({"cr2": ""}, "the report lacks cr2="),
    ({"error_code": ""}, "the report lacks error_code="),
    ({"rsp": "0x10bf20"}, "rsp=0x10bf20 is not 0x and 16 hex digits"),
    ({"error_code": "0x0002"}, "error_code=0x0002 is not 0x and 8 hex digits"),
    ({"cs": "0x0010"}, "the kernel runs with CS=0x08 and SS=0"),
    ({"ss": "0x0010"}, "the kernel runs with CS=0x08 and SS=0"),
    ({"heading": "EXCEPTION 6 #UD Invalid Opcode", "cr2": ""}, "vector 6 has no error code"),
], ids=["no-rip", "no-r15", "no-cr2", "no-error-code", "short-rsp", "short-error-code", "cs", "ss",
        "error-code-where-none"])
def test_a_report_missing_a_field_or_with_one_misprinted_is_refused(changed, named):
    with pytest.raises(AssertionError, match=re.escape(named)):
        exception_reports.check_full_report(report(**changed))


def test_a_short_report_where_a_full_one_belongs_is_refused():
    breakpoint_report = exception_reports.parse_reports(
        [f"EXCEPTION 3 #BP Breakpoint at rip={PAGE_FAULT_RIP:#018x} <{FAULTING_FUNCTION}+0x9>"])[0]
    with pytest.raises(AssertionError, match="expected a full report, got the short one"):
        exception_reports.check_full_report(breakpoint_report)


@pytest.mark.parametrize("elf_says, function, named", [
    ("write_to_unmapped_memory+0xa", FAULTING_FUNCTION, "the ELF's symbol table says <write_to_unmapped_memory+0xa>"),
    (f"{FAULTING_FUNCTION}+0x9", "read_unmapped_memory", "expected rip in read_unmapped_memory"),
    (f"{FAULTING_FUNCTION}+0x9", None, "no function holds rip=0x102779"),
], ids=["offset", "function", "none-expected"])
def test_a_symbol_unlike_the_elfs_or_the_expected_function_is_refused(elf_says, function, named):
    with pytest.raises(AssertionError, match=re.escape(named)):
        exception_reports.check_symbol(report(), elf_naming(elf_says), function)


@pytest.mark.parametrize("expected", [
    {"error_code": "0x00000002", "present": "0", "write": "0", "user": "0", "reserved_bit": "0",
     "instruction_fetch": "0"},
    {"error_code": "0x00000002", "present": "0", "write": "1", "user": "0", "reserved_bit": "0"},
], ids=["a-field-differs", "a-field-more"])
def test_error_code_fields_other_than_expected_are_refused(expected):
    with pytest.raises(AssertionError, match="error code fields: expected"):
        exception_reports.check_error_code(report(), [expected])


@pytest.mark.parametrize("changed, named", [
    ({"vector": 13}, "QEMU delivered vector 13"),
    ({"rip": PAGE_FAULT_RIP + 1}, "the CPU faulted at rip=0x10277a and pushed rip=0x10277a"),
    ({"error_code": 3}, "the CPU pushed error code 0x3"),
    ({"cr2": 0xDEADBEE0}, "CR2 was 0xdeadbee0"),
    ({"dump": delivery().dump.replace("RBX=0000000000001001", "RBX=0000000000001101")},
     "rbx was 0x0000000000001101"),
    ({"dump": delivery().dump.replace("RSP=000000000010bf20", "RSP=000000000010bf28")}, "rsp was 0x000000000010bf28"),
    ({"dump": delivery().dump.replace("RFL=00000002", "RFL=00000046")}, "rflags was 0x46"),
], ids=["vector", "rip", "error-code", "cr2", "general-register", "rsp", "rflags"])
def test_a_report_unlike_the_cpus_account_is_refused(changed, named):
    with pytest.raises(AssertionError, match=re.escape(named)):
        exception_reports.check_against_cpu(report(), delivery(**changed), elf=None)


def test_the_resume_flag_the_cpu_may_set_in_the_pushed_rflags_is_no_difference():
    exception_reports.check_against_cpu(report(rflags="0x0000000000010002"), delivery(), elf=None)


QEMU_LOG_OF_THE_PAGE_FAULT = (
    "check_exception old: 0xffffffff new 0xe\n"
    "     0: v=0e e=0002 i=0 cpl=0 IP=0008:0000000000102779 pc=0000000000102779 SP=0000:000000000010bf20 "
    "CR2=00000000deadbeef\n" + delivery().dump + "\n")


def test_a_report_for_each_delivery_is_wanted():
    exception_reports.check_all_against_cpu([report()], QEMU_LOG_OF_THE_PAGE_FAULT, elf=None)
    with pytest.raises(AssertionError, match=r"QEMU delivered 2 exceptions \(14, 14\), the kernel reported 1 \(14\)"):
        exception_reports.check_all_against_cpu([report()], QEMU_LOG_OF_THE_PAGE_FAULT * 2, elf=None)
    with pytest.raises(AssertionError, match="CR2 was 0xdeadbeef"):
        exception_reports.check_all_against_cpu([report(cr2="0x00000000deadbee0")], QEMU_LOG_OF_THE_PAGE_FAULT,
                                                elf=None)


def screen_of(lines: list[str]) -> Screen:
    memory = bytearray(b" \x07" * (COLUMNS * ROWS))
    for row, line in enumerate(lines):
        for column, character in enumerate(line):
            memory[(row * COLUMNS + column) * 2] = ord(character)
    return Screen(bytes(memory))


def test_the_screen_must_show_the_reports_of_serial_field_for_field():
    on_serial = [report()]
    exception_reports.check_screen_shows_the_reports(screen_of(page_fault_report()), on_serial)
    with pytest.raises(AssertionError, match="the screen's reports differ from serial's"):
        exception_reports.check_screen_shows_the_reports(screen_of(page_fault_report(rax="0x0000000000000000")),
                                                         on_serial)
    with pytest.raises(AssertionError, match="the screen's reports differ from serial's"):
        exception_reports.check_screen_shows_the_reports(screen_of([]), on_serial)


def test_a_field_printed_twice_is_refused():
    with pytest.raises(AssertionError, match="field rax twice in the report"):
        exception_reports.parse_reports(["EXCEPTION 14 #PF Page Fault",
                                         "  rax=0x0000000000000001 rax=0x0000000000000002"])


def elf_holding(code: bytes) -> SimpleNamespace:
    return SimpleNamespace(initial_bytes=lambda address, size: code[:size], path=SimpleNamespace(name="kernel.elf"))


@pytest.mark.parametrize("code, length", [(b"\xcc", 1), (b"\xcd\x03", 2)], ids=["int3", "int-3"])
def test_a_trap_is_reported_at_the_instruction_after_it(code, length):
    trap = delivery(vector=3, software=True, error_code=0, cr2=None)
    after, at = (report(heading=f"EXCEPTION 3 #BP Breakpoint at rip={rip:#018x}")
                 for rip in (PAGE_FAULT_RIP + length, PAGE_FAULT_RIP))
    exception_reports.check_against_cpu(after, trap, elf_holding(code))
    with pytest.raises(AssertionError, match=f"the CPU trapped at rip=0x102779 and pushed rip={after.rip:#x}"):
        exception_reports.check_against_cpu(at, trap, elf_holding(code))


def test_a_software_interrupt_where_the_kernel_has_no_int_instruction_is_refused():
    with pytest.raises(AssertionError, match="where kernel.elf has 0x90, no int3 or int N"):
        exception_reports.pushed_rip(delivery(vector=3, software=True), elf_holding(b"\x90"))


# --- screen comparisons -----------------------------------------------------------------------
# expect_text and expect_lines have the self-checks' wrong_text kernel,
# and chapter 3's screens, where and what they look at; whether
# expect_text reads its last character, only a screen made up here shows.
# expect_contains and expect_absent, and a pattern in expect_lines, had
# only screens that were right.

SCREEN = ["KERNEL PANIC at x.cpp:17", "  stack overflow", "halted"]


@pytest.mark.parametrize("expected", [[SCREEN[0], SCREEN[2]], ["stack overflow"], [re.compile(r"x\.cpp:\d+")]],
                         ids=["in-order", "part-of-a-line", "pattern"])
def test_lines_that_are_on_the_screen_in_order_are_found(expected):
    screen_of(SCREEN).expect_contains(expected)


@pytest.mark.parametrize("expected, summary", [
    (["double fault"], "wrong screen: 1 of 1 expected lines missing"),
    ([SCREEN[2], SCREEN[0]], "wrong screen: 1 of 2 expected lines missing"),
    ([re.compile(r"y\.cpp")], "wrong screen: 1 of 1 expected lines missing"),
], ids=["absent", "out-of-order", "pattern"])
def test_lines_missing_from_the_screen_or_out_of_order_fail(expected, summary):
    with pytest.raises(KernelFailure) as caught:
        screen_of(SCREEN).expect_contains(expected)
    assert caught.value.summary == summary


def test_a_pattern_for_a_row_must_match_all_of_it():
    screen_of(SCREEN).expect_lines([re.compile(r"KERNEL PANIC at \S+:\d+"), "  stack overflow"])
    with pytest.raises(KernelFailure) as caught:
        screen_of(SCREEN).expect_lines([re.compile(r"KERNEL PANIC")])
    assert caught.value.summary == "wrong screen: 1 of 1 expected rows differ (first at row 0)"


GREETING = ["    Hello World!", "    Hello World!!"]  # and a longer line below


@pytest.mark.parametrize("row, text", [(0, "Hello World?"), (1, "Hello World! ")],
                         ids=["last-character", "longer-line"])
def test_text_is_held_to_its_last_character(row, text):
    # The chapters' kernels print what they should, so a check that
    # stopped a character short passed them, and would pass a kernel that
    # gets the last character wrong.
    screen_of(GREETING).expect_text(0, 4, "Hello World!")
    with pytest.raises(KernelFailure) as caught:
        screen_of(GREETING).expect_text(row, 4, text)
    assert caught.value.summary.startswith(f"wrong screen: expected {text!r} at row {row} column 4, found "), \
        caught.value.summary


def test_text_that_must_not_be_on_the_screen_fails_where_it_is():
    screen_of(SCREEN).expect_absent(["double fault", re.compile(r"^halted\.")])
    with pytest.raises(KernelFailure) as caught:
        screen_of(SCREEN).expect_absent(["double fault", "overflow"])
    assert caught.value.summary == "wrong screen: 'overflow' appears on row 1"


# --- the kernel's file: its Multiboot2 header and its layout ---------------------------------------

HEADER_AT = 0x1000


def file_with_header(at: int = HEADER_AT, architecture: int = 0, checksum_error: int = 0, tags: bytes = b"",
                     end_tag: bytes = struct.pack("<HHI", 0, 0, 8), length_error: int = 0) -> SimpleNamespace:
    """A kernel file holding a Multiboot2 header at `at`: the fixed fields,
    the tags, the end tag; each argument one way to get it wrong."""
    length = 16 + len(tags) + len(end_tag) + length_error
    checksum = (-(multiboot2_header.MAGIC + architecture + length) + checksum_error) % 2**32
    header = struct.pack("<4I", multiboot2_header.MAGIC, architecture, length, checksum) + tags + end_tag
    data = bytes(at) + header + bytes(0x100)
    kernel = SimpleNamespace(data=data)
    kernel.file_offset_of_first = partial(ElfFile.file_offset_of_first, kernel)
    return kernel


def cut_off(kernel: SimpleNamespace, size: int) -> SimpleNamespace:
    short = SimpleNamespace(data=kernel.data[:size])
    short.file_offset_of_first = partial(ElfFile.file_offset_of_first, short)
    return short


def test_a_header_as_the_specification_lays_it_out_has_no_problem():
    # A tag of 12 bytes, which the next one follows at the next multiple of 8.
    console_flags = struct.pack("<HHII", 4, 0, 12, 0) + bytes(4)
    assert multiboot2_header.header_problems(file_with_header(tags=console_flags)) == []


@pytest.mark.parametrize("kernel, named", [
    (SimpleNamespace(data=bytes(0x2000), file_offset_of_first=lambda needle, within: None), "no Multiboot2 magic"),
    (file_with_header(at=HEADER_AT + 4), "the header at file offset 0x1004 is not 8-byte aligned"),
    (cut_off(file_with_header(), HEADER_AT + 8), "the header at file offset 0x1000 is cut off by the end of the file"),
    (file_with_header(architecture=1), "architecture 1: the specification knows 0 (i386) and 4 (MIPS)"),
    (file_with_header(checksum_error=1), "do not sum to 0 modulo 2^32"),
    (file_with_header(at=multiboot2_header.SEARCH_LIMIT - 16), "past the first 32 KiB"),
    (file_with_header(end_tag=b""), "no end tag within header_length (16 bytes)"),
    (file_with_header(tags=struct.pack("<HHI", 5, 0, 4)), "is 4 bytes long, shorter than its own 8-byte header"),
    (file_with_header(end_tag=struct.pack("<HHII", 0, 0, 12, 0)), "the end tag is 12 bytes long, not 8"),
    (file_with_header(length_error=8), "header_length is 32 bytes, but the end tag ends 24 bytes after the magic"),
], ids=["no-magic", "misaligned", "cut-off", "architecture", "checksum", "past-32-KiB", "no-end-tag", "tag-too-short",
        "end-tag-size", "length"])
def test_each_way_a_header_breaks_the_specification_is_named(kernel, named):
    problems = multiboot2_header.header_problems(kernel)
    assert any(named in problem for problem in problems), problems


CODE, READ_ONLY, DATA_SEGMENT = SEGMENT_READ | SEGMENT_EXECUTE, SEGMENT_READ, SEGMENT_READ | SEGMENT_WRITE


def laid_out_kernel(text_flags: int = CODE, rodata_flags: int = READ_ONLY, data_flags: int = DATA_SEGMENT,
                    rodata_at: int = 0x101000, text_at: int = 0x100000, data_file_size: int = 0x10,
                    magic: int = multiboot2_header.MAGIC) -> SimpleNamespace:
    """Chapter 2's kernel as linker.ld lays it out: code, read-only data,
    then data and the .bss with the boot stack in it; each argument one
    way to get it wrong."""
    segments = [ProgramHeader("LOAD", 0x1000, text_at, 0x800, 0x800, text_flags),
                ProgramHeader("LOAD", 0x2000, rodata_at, 0x100, 0x100, rodata_flags),
                ProgramHeader("LOAD", 0x3000, 0x102000, data_file_size, 0x5010, data_flags)]
    sections = [Section(".text", 1, SECTION_ALLOC | SECTION_EXECUTE, text_at, 0x1000, 0x800),
                Section(".rodata", 1, SECTION_ALLOC, rodata_at, 0x2000, 0x100),
                Section(".data", 1, SECTION_ALLOC | SECTION_WRITE, 0x102000, 0x3000, 0x10),
                Section(".bss", 8, SECTION_ALLOC | SECTION_WRITE, 0x102010, 0x3010, 0x5000),
                Section(".debug_info", 1, 0, 0, 0x4000, 0x100)]
    data = bytearray(0x4100)
    data[0x1000:0x1004] = magic.to_bytes(4, "little")
    stack = {"stack_bottom": 0x103000, "stack_top": 0x107000}
    return SimpleNamespace(program_headers=segments, sections=sections, data=bytes(data),
                           symbol=lambda name: SimpleNamespace(value=stack[name]))


def test_a_kernel_laid_out_as_the_linker_script_promises_has_no_problem():
    assert kernel_layout.layout_problems(laid_out_kernel()) == []


@pytest.mark.parametrize("changes, named", [
    ({"text_at": 0xF0000}, "segments below 1 MiB"),
    ({"magic": 0}, "does not open with the Multiboot header"),
    ({"rodata_at": 0x100800}, "share the page at 0x100000"),
    ({"text_flags": CODE | SEGMENT_WRITE}, "is writable and executable"),
    ({"text_flags": READ_ONLY}, "holds code (.text) but is not executable"),
    ({"rodata_flags": CODE}, "is executable, and so is what it holds that is not code: .rodata"),
    ({"data_flags": READ_ONLY}, "holds data written at run time (.data, .bss) but is not writable"),
    ({"rodata_flags": DATA_SEGMENT}, "is writable, and so is what it holds that is read-only: .rodata"),
    ({"data_file_size": 0x5010}, "is stored in the file as 16384 zero bytes"),
], ids=["below-1-MiB", "no-multiboot-header-first", "shared-page", "writable-code", "code-not-executable",
        "executable-rodata", "read-only-data", "writable-rodata", "stack-in-the-file"])
def test_each_way_the_layout_breaks_the_linker_scripts_promise_is_named(changes, named):
    problems = kernel_layout.layout_problems(laid_out_kernel(**changes))
    assert any(named in problem for problem in problems), problems


def test_a_kernel_without_a_loadable_segment_is_named():
    kernel = laid_out_kernel()
    kernel.program_headers = []
    assert kernel_layout.layout_problems(kernel) == ["no loadable segment"]


RED_ZONE_SOURCE = """\
bits 64
section .text
keeps_a_local_below_rsp:        ; what GCC makes of a leaf function without -mno-red-zone
    mov [rsp - 8], rdi
    mov rax, [rsp - 8]
    ret
keeps_a_local_in_its_frame:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    mov [rbp - 8], rdi
    mov rax, [rbp - 8]
    leave
    ret
reaches_below_rsp_through_rbp:  ; a frame pointer, but RSP never moved below the local
    push rbp
    mov rbp, rsp
    mov [rbp - 8], rdi
    pop rbp
    ret
probes_below_rsp:               ; lea computes an address and touches nothing
    lea rax, [rsp - 4096]
    ret
"""


def test_functions_that_keep_data_below_rsp_are_named_and_no_others(tmp_path):
    source, kernel = tmp_path / "red_zone.asm", tmp_path / "red_zone.o"
    source.write_text(RED_ZONE_SOURCE)
    subprocess.run(["nasm", "-f", "elf64", "-o", str(kernel), str(source)], check=True)
    assert red_zone.uses_below_rsp(kernel) == {"keeps_a_local_below_rsp": "mov %rdi,-0x8(%rsp)",
                                               "reaches_below_rsp_through_rbp": "mov %rdi,-0x8(%rbp)"}


# --- QEMU's interrupt log -----------------------------------------------------------------------

def test_the_log_starts_again_at_a_reset_but_not_at_a_triple_faults():
    # Firmware may reset the CPU before the loader runs (cpu_reset logs the
    # power-on reset too): what came before is another boot's. The reset a
    # triple fault causes is logged too, and must not hide it.
    triple_fault = QEMU_LOG_OF_THE_PAGE_FAULT + "check_exception old: 0xe new 0xd\nTriple fault\n"
    assert interrupt_log.has_triple_fault(triple_fault)
    assert interrupt_log.has_triple_fault(triple_fault + "CPU Reset (CPU 0)\n")
    assert interrupt_log.deliveries("CPU Reset (CPU 0)\n" + QEMU_LOG_OF_THE_PAGE_FAULT) == [delivery()]
    assert interrupt_log.deliveries(QEMU_LOG_OF_THE_PAGE_FAULT + "CPU Reset (CPU 0)\n") == []



def triple_fault_from_a_general_protection_fault(error_code: str) -> str:
    """QEMU's log of a #GP with the error code, then #GP again: #DF, reset."""
    where = "i=0 cpl=0 IP=0008:0000000000102779 pc=0000000000102779 SP=0000:000000000010bf20"
    return (f"check_exception old: 0xffffffff new 0xd\n     0: v=0d e={error_code} {where}\n"
            f"check_exception old: 0xd new 0xd\n     1: v=08 e=0000 {where}\n"
            "check_exception old: 0x8 new 0xd\nTriple fault\n")


def test_the_last_exception_is_named_and_an_int_n_is_none():
    # A kernel that halts in silence after a fault: the fault is the clue.
    # An int3 (i=1, and no check_exception before it) raises no exception.
    where = "cpl=0 IP=0008:0000000000102779 pc=0000000000102779 SP=0000:000000000010bf20"
    breakpoint_only = f"     0: v=03 e=0000 i=1 {where}\n"
    assert interrupt_log.describe_last_exception(breakpoint_only) is None
    fault = f"check_exception old: 0xffffffff new 0xd\n     1: v=0d e=0010 i=0 {where}\n"
    assert interrupt_log.describe_last_exception(breakpoint_only + fault) == \
        "#GP (general protection) at rip=0x102779, error 0x10 (GDT entry 2)"


@pytest.mark.parametrize("error_code, meaning", [
    ("0042", "IDT entry 8"),
    ("001c", "LDT entry 3"),
    ("0043", "IDT entry 8, caused by an event external to the program"),
    # SDM vol. 3, 6.13: the index is bits 15:3, and bits 31:16 are reserved.
    ("10042", "IDT entry 8, reserved bits 31:16 set (0x1), which no CPU pushes"),
    ("ffff0018", "GDT entry 3, reserved bits 31:16 set (0xffff), which no CPU pushes"),
], ids=["idt", "ldt", "external", "reserved-bit-16", "reserved-upper-half"])
def test_a_selector_error_code_names_its_table_and_index_and_nothing_more(error_code, meaning):
    summary = interrupt_log.describe_triple_fault(triple_fault_from_a_general_protection_fault(error_code))
    assert summary.startswith(f"triple fault: #GP (general protection) at rip=0x102779, "
                              f"error {int(error_code, 16):#x} ({meaning}); then #GP"), summary



# --- the UART's line settings, from QEMU's trace ------------------------------------------------------

def test_every_setting_of_the_uart_is_read_in_order_whatever_qemu_puts_in_front():
    # test_boot_state wants 115200 8N1 last: a reader that took one field
    # for another, or the first line for the last, would pass a kernel
    # that leaves 38400 baud or two stop bits.
    log = ("serial_update_parameters baudrate=9600 parity='N' data=5 stop=1\n"
           "     0: v=20 e=0000 i=0 cpl=0 IP=0008:0000000000100000\n"
           "4321@1733500000.123456:serial_update_parameters baudrate=38400 parity='E' data=7 stop=2\n")
    assert line_settings.history(log) == [LineSettings(9600, "N", 5, 1), LineSettings(38400, "E", 7, 2)]
    assert str(line_settings.history(log)[-1]) == "38400 baud, 7E2"


# --- what the ELF file says of an address ----------------------------------------------------------

def test_a_table_is_in_a_variable_only_if_the_variable_holds_all_of_it(tmp_path):
    # test_boot_state's check that IDTR points into a variable, not a stack frame.
    source, kernel = tmp_path / "variables.asm", tmp_path / "variables.o"
    source.write_text("section .data\nglobal idt:data 4096\nidt: times 4096 db 0\n"
                      "global counter:data 8\ncounter: dq 0\n")
    subprocess.run(["nasm", "-f", "elf64", "-o", str(kernel), str(source)], check=True)
    elf = ElfFile(kernel)
    assert elf.variable_holding(0, 4096).name == "idt"
    assert elf.variable_holding(4096, 8).name == "counter"
    assert elf.variable_holding(16, 4096) is None, "the table runs past the end of idt"
    assert elf.variable_holding(4096 + 8, 16) is None, "past every variable"
