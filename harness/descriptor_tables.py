"""The descriptor tables a kernel gives the CPU (the GDT from chapter 02 on,
the IDT from chapter 05, the TSS in chapter 06), read back from the machine
through the registers that point at them: the GDT through GDTR, the IDT
through IDTR, the TSS through the task register.

The kernel's own test kernels check these tables with the kernel's own
idea of their layout; a gate built wrong and read back with the same
mistake passes there. Here the layouts are decoded as the Intel SDM draws
them (vol. 3: 3.4.5 segment descriptors, 6.14.1 64-bit gates, and in
"Task Management", chapter 7 or 8 by edition, the 64-bit TSS descriptor
and the 64-bit TSS), and compared with what the chapters teach. Much of a
wrong table works until the day it is used: a table limit one too large,
a gate any ring may reach with `int N`, a trap gate where the chapter
builds interrupt gates, a present gate beyond the exception vectors, an
I/O permission bitmap where there should be none.

Each *_problems function returns a list of problems in words; empty means
as taught.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from gdb_stub import GdbStub
from machine import Machine
from registers import Registers

GATE_SIZE = 16
IDT_GATES = 256  # the kernel's table holds a gate for every vector
EXCEPTION_VECTORS = 32
INTERRUPT_GATE = 0xE  # 64-bit interrupt gate: IF cleared on the way in
DESCRIPTOR_SIZE = 8
SYSTEM_DESCRIPTOR_SIZE = 16  # a TSS descriptor takes two GDT entries in long mode
BUSY_TASK_STATE_SEGMENT = 0xB  # a 64-bit TSS that LTR has loaded
TASK_STATE_SEGMENT_SIZE = 104  # the 64-bit TSS without an I/O bitmap (SDM "64-Bit TSS Format")
IST_OFFSET = 0x24  # IST1; IST2-IST7 follow, 8 bytes each
IO_MAP_BASE_OFFSET = 0x66
IST_ALIGNMENT = 16  # the CPU aligns RSP down to 16 before it pushes a frame

# Segment descriptor bits (SDM figure 3-8).
WRITABLE = 1 << 41  # in a data segment's type
CONFORMING = 1 << 42  # in a code segment's type
EXECUTABLE = 1 << 43
CODE_OR_DATA = 1 << 44  # S: clear for a system descriptor
PRESENT = 1 << 47
LONG_MODE = 1 << 53  # L
DEFAULT_SIZE = 1 << 54  # D/B: must be clear when L is set
GRANULARITY = 1 << 55


@dataclass(frozen=True)
class TableRegister:
    """GDTR or IDTR: the table's linear address and its limit, the offset
    of its last byte."""
    base: int
    limit: int

    @property
    def size(self) -> int:
        return self.limit + 1


def table_register(registers: Registers, name: str) -> TableRegister:
    """GDTR or IDTR from QEMU's `info registers`: `IDT=     base limit`."""
    match = re.search(rf"^{name}=\s*([0-9a-f]+) ([0-9a-f]+)", registers.text, re.MULTILINE)
    if match is None:
        raise ValueError(f"no {name} in the monitor's registers:\n{registers.text}")
    return TableRegister(int(match[1], 16), int(match[2], 16))


def read_table(machine: Machine, register: TableRegister) -> bytes:
    return machine.read_memory(register.base, register.size)


def idt_problems_as_kernel_main_calls(machine: Machine, stub: GdbStub, function: str, *,
                                      source: str) -> list[str]:
    """kernel_main loads the kernel's IDT first, so that a fault in what
    comes next is reported instead of resetting the machine: until then
    IDTR holds what the loader left (GRUB: base 0, limit 0). Stops the
    kernel as it enters `function`, kernel_main's second call, and reads
    IDTR there: it must hold the kernel's own table, a variable of its ELF
    of all 256 gates. `source` names the file of that kernel_main."""
    stub.run_to(machine.elf.function_named_like(function).value)
    idtr = table_register(machine.registers(), "IDT")
    stub.detach()
    if machine.elf.variable_holding(idtr.base, idtr.size) is not None and idtr.size == IDT_GATES * GATE_SIZE:
        return []
    return [f"as kernel_main called {function}, IDTR held base {idtr.base:#x} limit {idtr.limit:#x}, not the "
            "kernel's IDT: an exception there would find none of the kernel's gates and reset the machine. Call "
            f"initialize_exceptions() first thing in kernel_main ({source})"]


# --- the IDT --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """One 16-byte gate of a 64-bit IDT (SDM figure 6-8)."""
    offset: int  # the handler's address, from its three fields
    selector: int
    interrupt_stack: int  # bits 0-2 of byte 4: 0, or IST1-IST7
    type: int
    privilege: int  # DPL
    present: bool
    reserved_bits: int  # the gate's bits that must be zero, at their place in its 128 bits

    @staticmethod
    def decode(data: bytes) -> Gate:
        offset_low, selector, stack_byte, attributes, offset_middle, offset_high, reserved = \
            struct.unpack("<HHBBHII", data)
        return Gate(offset=offset_high << 32 | offset_middle << 16 | offset_low, selector=selector,
                    interrupt_stack=stack_byte & 0b111, type=attributes & 0xF, privilege=attributes >> 5 & 0b11,
                    present=bool(attributes & 0x80),
                    # Bits 35-39 (above the IST index), 44 (S, clear in
                    # every gate, a system descriptor) and 96-127.
                    reserved_bits=(stack_byte & ~0b111) << 32 | (attributes & 0x10) << 40 | reserved << 96)


def gates(table: bytes) -> list[Gate]:
    return [Gate.decode(table[at:at + GATE_SIZE]) for at in range(0, len(table) - GATE_SIZE + 1, GATE_SIZE)]


def idt_problems(idtr: TableRegister, table: bytes, code_selector: int, handlers: list[int],
                 interrupt_stacks: dict[int, int]) -> list[str]:
    """The IDT as chapter 5 builds it: whole 16-byte gates, covering at
    least the 32 exception vectors, whose gates are present, each a 64-bit
    interrupt gate of DPL 0 into code_selector at handlers[vector], on the
    stack interrupt_stacks names (0, the current one, unless given); every
    other gate is not present."""
    problems = []
    if idtr.size % GATE_SIZE:
        problems.append(f"IDTR's limit {idtr.limit:#x} is not a whole number of 16-byte gates minus one "
                        f"(the limit is the offset of the last byte: size - 1)")
    if idtr.size < EXCEPTION_VECTORS * GATE_SIZE:
        problems.append(f"IDTR's limit {idtr.limit:#x} leaves out some of the {EXCEPTION_VECTORS} exception vectors")
    for vector, gate in enumerate(gates(table)):
        where = f"gate {vector}"
        if vector >= EXCEPTION_VECTORS:
            if gate.present:
                problems.append(f"{where} is present, but the kernel handles no vector beyond the exceptions")
            continue
        if not gate.present:
            problems.append(f"{where} is not present")
            continue
        if gate.type != INTERRUPT_GATE:
            problems.append(f"{where} has type {gate.type:#x}, not a 64-bit interrupt gate ({INTERRUPT_GATE:#x})")
        if gate.privilege != 0:
            problems.append(f"{where} has DPL {gate.privilege}: code at that ring could raise it with int {vector}")
        if gate.selector != code_selector:
            problems.append(f"{where} names code segment {gate.selector:#06x}, not the kernel's {code_selector:#06x}")
        if gate.offset != handlers[vector]:
            problems.append(f"{where} points at {gate.offset:#x}, not at its handler {handlers[vector]:#x}")
        if gate.interrupt_stack != interrupt_stacks.get(vector, 0):
            problems.append(f"{where} switches to IST{gate.interrupt_stack}, "
                            f"not {_stack_name(interrupt_stacks.get(vector, 0))}")
        if gate.reserved_bits:
            problems.append(f"{where} has reserved bits set: {gate.reserved_bits:#x}")
    return problems


def _stack_name(index: int) -> str:
    return f"IST{index}" if index else "the current stack (IST 0)"


# --- the GDT and the TSS ----------------------------------------------------------------------


def _descriptor(table: bytes, selector: int, size: int = DESCRIPTOR_SIZE) -> bytes | None:
    """The descriptor a selector names, or None if it lies past the table."""
    index = selector & ~0b111
    return table[index:index + size] if index + size <= len(table) else None


def _selector_problems(name: str, selector: int) -> list[str]:
    problems = []
    if selector & 0b100:
        problems.append(f"{name} selector {selector:#06x} names the LDT (TI set), not the GDT")
    if selector & 0b11:
        problems.append(f"{name} selector {selector:#06x} requests privilege level {selector & 0b11}, not 0")
    return problems


def gdt_problems(gdtr: TableRegister, table: bytes, code_selector: int) -> list[str]:
    """The GDT as boot.asm and chapter 6 build it: whole 8-byte entries,
    the null descriptor first, and CS naming a present 64-bit code segment
    of DPL 0 (L set, D clear, as the SDM requires with L), not conforming
    (which would let code of any privilege run it at its own)."""
    problems = []
    if gdtr.size % DESCRIPTOR_SIZE:
        problems.append(f"GDTR's limit {gdtr.limit:#x} is not a whole number of 8-byte descriptors minus one "
                        f"(the limit is the offset of the last byte: size - 1)")
    if table[:DESCRIPTOR_SIZE] != bytes(DESCRIPTOR_SIZE):
        problems.append(f"GDT entry 0 is {table[:DESCRIPTOR_SIZE].hex()}, not the null descriptor")
    problems += _selector_problems("CS", code_selector)
    descriptor = _descriptor(table, code_selector)
    if descriptor is None:
        return problems + [f"CS selector {code_selector:#06x} lies past the GDT's limit {gdtr.limit:#x}"]
    return problems + _segment_descriptor_problems(
        "the code segment's descriptor", int.from_bytes(descriptor, "little"),
        ((PRESENT, "present", True), (CODE_OR_DATA, "S (code or data)", True), (EXECUTABLE, "executable", True),
         (CONFORMING, "C (conforming: code of any privilege could run it)", False),
         (LONG_MODE, "L (64-bit code)", True), (DEFAULT_SIZE, "D (must be clear with L)", False)))


def _segment_descriptor_problems(what: str, bits: int, flags: tuple[tuple[int, str, bool], ...]) -> list[str]:
    """Each of the flags (bit, name, wanted set) not as wanted in a segment
    descriptor, and a DPL other than 0."""
    problems = [f"{what} {bits:#018x} has {name} {'clear' if wanted else 'set'}"
                for bit, name, wanted in flags if bool(bits & bit) != wanted]
    if bits >> 45 & 0b11:
        problems.append(f"{what} {bits:#018x} has DPL {bits >> 45 & 0b11}, not 0")
    return problems


# QEMU's `info registers` line of CS: the selector, then the copy of its
# descriptor the CPU keeps, as base, limit and the descriptor's upper dword
# (type, S, DPL, P, L, D, G at their places).
_CODE_SEGMENT_LINE = re.compile(r"^CS =([0-9a-f]{4}) [0-9a-f]+ [0-9a-f]+ ([0-9a-f]{8})", re.MULTILINE)
_ACCESSED = 1 << 8  # the type's lowest bit, in the upper dword: the CPU may set it on loading
_ATTRIBUTES = 0x00F0FF00  # type, S, DPL, P, AVL, L, D, G, in the upper dword


def code_segment_copy_problems(gdtr: TableRegister, table: bytes, registers: Registers) -> list[str]:
    """CS holds a copy of the descriptor it was loaded from, which LGDT
    leaves alone: the copy must agree with the GDT's entry, or CS was not
    loaded again after the GDT changed."""
    match = _CODE_SEGMENT_LINE.search(registers.text)
    if match is None:
        return [f"no CS in the monitor's registers:\n{registers.text}"]
    selector, held = int(match[1], 16), int(match[2], 16)
    descriptor = _descriptor(table, selector)
    if descriptor is None:
        return [f"CS selector {selector:#06x} lies past the GDT's limit {gdtr.limit:#x}"]
    in_table = int.from_bytes(descriptor, "little") >> 32
    if (held ^ in_table) & _ATTRIBUTES & ~_ACCESSED:
        return [f"CS={selector:#06x} holds a descriptor whose upper half is {held:#010x}, but the GDT's entry "
                f"{selector:#06x} has {in_table:#010x}"]
    return []


# QEMU's `info registers` line of TR: the selector, then the copy of the TSS
# descriptor that LTR took into the task register, as base and limit.
_TASK_REGISTER_LINE = re.compile(r"^TR =([0-9a-f]{4}) ([0-9a-f]+) ([0-9a-f]+)", re.MULTILINE)


def task_register_base(registers: Registers) -> int:
    """The TSS's base as the CPU holds it in the task register: LTR's
    reading of the descriptor, whatever the GDT says now."""
    match = _TASK_REGISTER_LINE.search(registers.text)
    if match is None:
        raise ValueError(f"no TR in the monitor's registers:\n{registers.text}")
    return int(match[2], 16)


DATA_SEGMENT_REGISTERS = ("SS", "DS", "ES", "FS", "GS")


def data_segment_problems(gdtr: TableRegister, table: bytes, registers: Registers) -> list[str]:
    """SS, DS, ES, FS and GS each hold the null selector or name a present
    data segment of DPL 0 in this GDT, writable for SS. The loader's
    selectors index the loader's GDT. Long mode ignores them, until
    something loads one again: iretq pops SS at every interrupt return,
    and checks it against this GDT (SDM vol. 3, 6.14.3)."""
    problems = []
    for name in DATA_SEGMENT_REGISTERS:
        selector = registers[name]
        if selector & ~0b11 == 0:  # the null selector, with whatever RPL
            continue
        problems += _selector_problems(name, selector)
        descriptor = _descriptor(table, selector)
        if descriptor is None:
            problems.append(f"{name} selector {selector:#06x} lies past the GDT's limit {gdtr.limit:#x}: "
                            "a selector of the loader's GDT, never reloaded?")
            continue
        # A data segment: not executable, and for SS writable too.
        flags = ((PRESENT, "present", True), (CODE_OR_DATA, "S (code or data)", True),
                 (EXECUTABLE, "executable", False)) + (((WRITABLE, "W (writable)", True),) if name == "SS" else ())
        problems += _segment_descriptor_problems(f"the descriptor {name} names", int.from_bytes(descriptor, "little"),
                                                 flags)
    return problems


@dataclass(frozen=True)
class TaskStateSegmentDescriptor:
    """A 16-byte TSS descriptor of long mode (SDM "Format of TSS and LDT
    Descriptors in 64-bit Mode")."""
    base: int
    limit: int
    type: int
    system: bool  # S clear
    privilege: int
    present: bool
    granularity: bool
    reserved_bits: int  # bits 8-12 of the upper half must be zero, the rest is reserved

    @staticmethod
    def decode(data: bytes) -> TaskStateSegmentDescriptor:
        low, base_upper, reserved = struct.unpack("<QII", data)
        return TaskStateSegmentDescriptor(
            base=(low >> 16 & 0xFF_FFFF) | (low >> 56 & 0xFF) << 24 | base_upper << 32,
            limit=(low & 0xFFFF) | (low >> 48 & 0xF) << 16, type=low >> 40 & 0xF,
            system=not low & CODE_OR_DATA, privilege=low >> 45 & 0b11, present=bool(low & PRESENT),
            granularity=bool(low & GRANULARITY), reserved_bits=reserved)


def task_state_segment_problems(machine: Machine, gdtr: TableRegister, table: bytes, task_register: int,
                                task_state_segment: int, ist1_top: int) -> list[str]:
    """The task register names a TSS descriptor in the GDT (busy, as LTR
    leaves it) for the kernel's TSS at task_state_segment, 104 bytes or
    more; IST1 in the TSS is ist1_top, 16-byte aligned; and there is no
    I/O permission bitmap."""
    problems = _selector_problems("TR", task_register)
    data = _descriptor(table, task_register, SYSTEM_DESCRIPTOR_SIZE)
    if data is None:
        return problems + [f"TR selector {task_register:#06x} and the next entry lie past the GDT's "
                           f"limit {gdtr.limit:#x}: a TSS descriptor takes 16 bytes"]
    descriptor = TaskStateSegmentDescriptor.decode(data)
    where = f"the TSS descriptor at {task_register:#06x}"
    if not descriptor.present:
        problems.append(f"{where} is not present")
    if not descriptor.system or descriptor.type != BUSY_TASK_STATE_SEGMENT:
        problems.append(f"{where} has S={int(not descriptor.system)} type {descriptor.type:#x}, not a busy "
                        f"64-bit TSS (S=0, type {BUSY_TASK_STATE_SEGMENT:#x}, which LTR leaves)")
    if descriptor.privilege != 0:
        problems.append(f"{where} has DPL {descriptor.privilege}, not 0")
    if descriptor.reserved_bits:
        problems.append(f"{where} has reserved bits set in its upper half: {descriptor.reserved_bits:#x}")
    if descriptor.base != task_state_segment:
        problems.append(f"{where} has base {descriptor.base:#x}, not the kernel's TSS at {task_state_segment:#x}")
    limit_in_bytes = (descriptor.limit << 12 | 0xFFF) if descriptor.granularity else descriptor.limit
    if limit_in_bytes < TASK_STATE_SEGMENT_SIZE - 1:
        problems.append(f"{where} has limit {limit_in_bytes:#x}, less than a 64-bit TSS's "
                        f"{TASK_STATE_SEGMENT_SIZE - 1:#x}")
    if problems:
        return problems
    segment = machine.read_memory(descriptor.base, TASK_STATE_SEGMENT_SIZE)
    ist1 = int.from_bytes(segment[IST_OFFSET:IST_OFFSET + 8], "little")
    if ist1 != ist1_top:
        problems.append(f"IST1 in the TSS is {ist1:#x}, not the top of the double fault stack {ist1_top:#x}")
    if ist1 % IST_ALIGNMENT:
        problems.append(f"IST1 {ist1:#x} is not {IST_ALIGNMENT}-byte aligned")
    io_map_base = int.from_bytes(segment[IO_MAP_BASE_OFFSET:IO_MAP_BASE_OFFSET + 2], "little")
    if io_map_base <= limit_in_bytes:
        problems.append(f"the TSS's I/O map base {io_map_base:#x} lies within its limit {limit_in_bytes:#x}: "
                        "the CPU would read an I/O permission bitmap there")
    return problems
