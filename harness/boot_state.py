"""What the boot code (boot.asm, chapters 02-06) leaves in the machine, read
back from the machine itself rather than judged by its visible effects.

A kernel can print "Hello World!" with page tables that map too little, the
wrong way or with the wrong rights, or with a stack pointer that is not in
its stack: each works until the day it does not. These functions read the
page tables from guest memory and the control registers from QEMU's
monitor, and list every way they differ from what chapter 2 promises:

- PML4[0] -> PDPT[0] -> one page directory of 512 huge pages, which map the
  first 1 GiB onto itself (virtual = physical), present and writable, and
  nothing else mapped; in chapter 6, with its guard pages unmapped, each
  2 MiB page that holds one split into 512 pages of 4 KiB, mapped as the
  2 MiB page was but for the guard pages; and no 513th entry written just
  past the page directory;
- CR0.PE, CR0.PG and CR0.WP, CR4.PAE, EFER.LME and EFER.LMA set, CR3 = the
  PML4's address and nothing else;
- GDTR = boot.asm's GDT, its limit the table's size minus one;
- the stack pointer inside the boot stack, stack_bottom to stack_top, and
  the kernel's writes well above its bottom.

Each returns a list of problems in words; empty means as promised. And,
through QEMU's gdb stub, a play of the interrupt that can end a halt with
interrupts off: a non-maskable one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from descriptor_tables import TableRegister
from gdb_stub import DIRECTION_FLAG, EFLAGS, INTERRUPT_FLAG, RIP, GdbStub
from machine import Machine
from registers import Registers

ENTRIES_PER_TABLE = 512
ENTRY_SIZE = 8
TABLE_SIZE = ENTRIES_PER_TABLE * ENTRY_SIZE
PAGE_SIZE = 4096
HUGE_PAGE_SIZE = 2 * 1024 * 1024
HLT = 0xF4  # the opcode, one byte long
STACK_PAINT = b"\xa5"  # written over the whole stack before the kernel starts
STACK_HEADROOM = 16  # bytes at the stack's bottom the kernel must leave unwritten
INSTRUCTIONS_BEFORE_THE_HLT = 32  # how far step_to_the_hlt looks: past a loop's alignment padding

PRESENT = 1 << 0
WRITABLE = 1 << 1
USER = 1 << 2
WRITE_THROUGH = 1 << 3
CACHE_DISABLE = 1 << 4
ACCESSED = 1 << 5
DIRTY = 1 << 6
HUGE = 1 << 7  # in an entry of a page directory
PAGE_ATTRIBUTE_TABLE = 1 << 7  # the same bit, in an entry of a page table
NO_EXECUTE = 1 << 63
# Bits 12-51 of an entry hold the physical address of a table or a page.
ADDRESS_MASK = ((1 << 52) - 1) & ~0xFFF
# The CPU sets these as it uses an entry: they say nothing about the boot code.
SET_BY_THE_CPU = ACCESSED | DIRTY

_FLAG_NAMES = [(PRESENT, "present"), (WRITABLE, "writable"), (USER, "user"),
               (WRITE_THROUGH, "write-through"), (CACHE_DISABLE, "cache-disable"),
               (HUGE, "huge"), (NO_EXECUTE, "no-execute")]

CR0_PROTECTED_MODE = 1 << 0
CR0_PAGING = 1 << 31
CR0_WRITE_PROTECT = 1 << 16
CR4_PAE = 1 << 5
EFER_LONG_MODE_ENABLE = 1 << 8
EFER_LONG_MODE_ACTIVE = 1 << 10


def describe_flags(entry: int, small_page: bool = False) -> str:
    """The entry's flags in words; small_page for an entry of a page table."""
    names = [("PAT" if small_page and bit == PAGE_ATTRIBUTE_TABLE else name)
             for bit, name in _FLAG_NAMES if entry & bit]
    return "+".join(names) or "none"


@dataclass(frozen=True)
class PageTables:
    """The three tables boot.asm fills, as 512 entries each, and where they are."""
    pml4_address: int
    pdpt_address: int
    page_directory_address: int
    pml4: list[int]
    pdpt: list[int]
    page_directory: list[int]


def _entries(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + ENTRY_SIZE], "little") for i in range(0, TABLE_SIZE, ENTRY_SIZE)]


def read_page_tables(machine: Machine) -> PageTables:
    """Reads boot.asm's tables from guest memory, found by their symbols."""
    addresses = [machine.symbol(name).value for name in ("pml4", "pdpt", "page_directory")]
    tables = [_entries(machine.read_memory(address, TABLE_SIZE)) for address in addresses]
    return PageTables(*addresses, *tables)


def _entry_problem(table: str, index: int, entry: int, expected: int, small_page: bool) -> str | None:
    if entry & ~SET_BY_THE_CPU == expected:
        return None
    if expected == 0:
        return f"{table}[{index}] = {entry:#x} ({describe_flags(entry, small_page)}): should be empty"
    return (f"{table}[{index}] = {entry:#x} ({describe_flags(entry, small_page)}, to {entry & ADDRESS_MASK:#x}): "
            f"should be {expected:#x} ({describe_flags(expected, small_page)}, to {expected & ADDRESS_MASK:#x})")


def read_split_tables(machine: Machine, tables: PageTables) -> dict[int, list[int]]:
    """The page tables that page directory entries point to instead of
    mapping a 2 MiB page themselves, by the entry's index."""
    return {index: _entries(machine.read_memory(entry & ADDRESS_MASK, TABLE_SIZE))
            for index, entry in enumerate(tables.page_directory) if entry & PRESENT and not entry & HUGE}


def identity_map_problems(tables: PageTables, split_tables: dict[int, list[int]] | None = None,
                          unmapped: Iterable[range] = ()) -> list[str]:
    """Every entry of the three tables against the lesson's identity map,
    and with pages to be unmapped (chapter 6's guard pages), every entry of
    the tables that the 2 MiB pages holding them were split into
    (read_split_tables)."""
    unmapped_pages = {page for pages in unmapped for page in range(pages.start, pages.stop, PAGE_SIZE)}
    split_indices = sorted({page // HUGE_PAGE_SIZE for page in unmapped_pages})
    split_tables = split_tables or {}
    expected_pml4 = [tables.pdpt_address | PRESENT | WRITABLE] + [0] * (ENTRIES_PER_TABLE - 1)
    expected_pdpt = [tables.page_directory_address | PRESENT | WRITABLE] + [0] * (ENTRIES_PER_TABLE - 1)
    expected_directory = [index * HUGE_PAGE_SIZE | PRESENT | WRITABLE | HUGE for index in range(ENTRIES_PER_TABLE)]
    to_check = [("PML4", tables.pml4, expected_pml4, False), ("PDPT", tables.pdpt, expected_pdpt, False)]
    problems = []
    for index in split_indices:
        if index not in split_tables:
            guards = sorted(page for page in unmapped_pages if page // HUGE_PAGE_SIZE == index)
            problems.append(f"page directory[{index}] = {tables.page_directory[index]:#x} "
                            f"({describe_flags(tables.page_directory[index])}) maps the pages at "
                            f"{', '.join(f'{page:#x}' for page in guards)}, which should be unmapped: "
                            "its 2 MiB page should be split into a table of 4 KiB pages")
            continue
        # A table of the kernel's own, wherever it is, with the 2 MiB page's rights.
        expected_directory[index] = tables.page_directory[index] & ADDRESS_MASK | PRESENT | WRITABLE
        first = index * HUGE_PAGE_SIZE
        expected_pages = [0 if page in unmapped_pages else page | PRESENT | WRITABLE
                          for page in range(first, first + HUGE_PAGE_SIZE, PAGE_SIZE)]
        to_check.append((f"page table of page directory[{index}]", split_tables[index], expected_pages, True))
    to_check.append(("page directory", tables.page_directory, expected_directory, False))
    for name, entries, expected, small_pages in to_check:
        problems += [problem for index, (entry, want) in enumerate(zip(entries, expected))
                     if (problem := _entry_problem(name, index, entry, want, small_pages)) is not None]
    return problems


def past_the_page_directory_problems(machine: Machine, tables: PageTables) -> list[str]:
    """The 8 bytes just past the page directory, where a loop that fills
    one entry too many (jle or jbe for jne) writes a 513th: no table
    entry, so the CPU never reads it, but it lands on whatever follows,
    in chapters 02-05 the bottom of the boot stack, which nothing else
    reaches."""
    address = tables.page_directory_address + TABLE_SIZE
    entry = int.from_bytes(machine.read_memory(address, ENTRY_SIZE), "little")
    if entry == 0:
        return []
    return [f"the 8 bytes just past the page directory, at {address:#x}, hold {entry:#x} "
            f"({describe_flags(entry)}, to {entry & ADDRESS_MASK:#x}): the loop that fills the directory "
            f"wrote a {ENTRIES_PER_TABLE + 1}th entry past its end, or, where the boot stack starts there, "
            "the kernel used its stack to the very bottom"]


def control_register_problems(registers: Registers, pml4_address: int) -> list[str]:
    """The bits that make the CPU run in long mode with boot.asm's tables,
    and hold the kernel to their read-only pages; and CR3 with no flags
    beside the PML4's address (a copy of a table entry's, present and
    writable, sets ignored bits; PWT or PCD would slow every walk)."""
    wanted = [("CR0", CR0_PROTECTED_MODE, "CR0.PE (protected mode)"),
              ("CR0", CR0_PAGING, "CR0.PG (paging)"),
              ("CR0", CR0_WRITE_PROTECT, "CR0.WP (write protection: without it the kernel writes through "
                                         "read-only pages)"),
              ("CR4", CR4_PAE, "CR4.PAE (the 64-bit page table format)"),
              ("EFER", EFER_LONG_MODE_ENABLE, "EFER.LME (long mode enabled)"),
              ("EFER", EFER_LONG_MODE_ACTIVE, "EFER.LMA (long mode active)")]
    problems = [f"{description} is clear ({register}={registers[register]:#x})"
                for register, bit, description in wanted if not registers[register] & bit]
    cr3 = registers["CR3"]
    if cr3 & ADDRESS_MASK != pml4_address:
        problems.append(f"CR3 points to {cr3 & ADDRESS_MASK:#x}, not to boot.asm's PML4 at {pml4_address:#x}")
    elif cr3 != pml4_address:
        problems.append(f"CR3={cr3:#x} holds {cr3 & ~ADDRESS_MASK:#x} beside the PML4's address: CR3 is no table "
                        "entry, its bits 3 and 4 (PWT, PCD) make the CPU read the PML4 write-through or uncached, "
                        "and its low 12 bits are the PCID once CR4.PCIDE is on; load it with the address alone")
    return problems


def gdt_register_problems(gdtr: TableRegister, table: int, table_end: int) -> list[str]:
    """GDTR holds boot.asm's GDT, from table (gdt64) to table_end
    (gdt64.pointer), and not a byte more. The CPU takes every 8 bytes up
    to the limit for a descriptor: with a limit past the table, a wrong
    selector loads whatever follows it instead of faulting."""
    if gdtr.base != table:
        return [f"GDTR's base is {gdtr.base:#x}, not boot.asm's GDT at {table:#x} (gdt64)"]
    if gdtr.size != table_end - table:
        return [f"GDTR's limit {gdtr.limit:#x} covers {gdtr.size} bytes, but boot.asm's GDT, gdt64 up to "
                f"gdt64.pointer, holds {table_end - table}: the limit is the table's size minus one "
                f"({table_end - table - 1:#x}), and the CPU takes any bytes within it for descriptors"]
    return []


def stack_problems(machine: Machine, registers: Registers) -> list[str]:
    """The stack pointer lies inside the stack boot.asm (chapter 1:
    start.asm) reserved."""
    bottom, top = machine.symbol("stack_bottom").value, machine.symbol("stack_top").value
    if bottom < registers.rsp <= top:
        return []
    where = "below stack_bottom" if registers.rsp <= bottom else "above stack_top"
    name = "RSP" if "RSP" in registers.values else "ESP"  # chapter 1 halts in 32-bit mode
    return [f"{name}={registers.rsp:#x} is {where}: the stack is {bottom:#x}-{top:#x}"]


def first_call_problems(flags: int, stack_pointer: int, mode_bits: int) -> list[str]:
    """What the System V ABI promises every function on entry, and the
    compiler relies on, read at the first C++ call: DF=0 for its string
    instructions (rep movs, rep stos), and the stack pointer plus the
    return address just pushed a multiple of 16 (alignas(16) locals, and
    SSE's aligned moves in 64-bit code)."""
    name, return_address = ("ESP", 4) if mode_bits == 32 else ("RSP", 8)
    problems = []
    if flags & DIRECTION_FLAG:
        problems.append(f"EFLAGS={flags:#x}: the direction flag set at _start is still set at the first C++ call "
                        "(no cld)")
    if (stack_pointer + return_address) % 16:
        problems.append(f"{name}={stack_pointer:#x} at the first C++ call: {name}+{return_address} must be a "
                        "multiple of 16 (its return address just pushed)")
    return problems


def paint_the_stack(machine: Machine, stub: GdbStub) -> None:
    """Fills the boot stack with STACK_PAINT, through the stub with the
    CPU stopped at _start, for stack_depth_problems to read at the halt."""
    bottom, top = machine.symbol("stack_bottom").value, machine.symbol("stack_top").value
    stub.write_memory(bottom, STACK_PAINT * (top - bottom))


def stack_depth_problems(machine: Machine, unwritten: bytes = STACK_PAINT) -> list[str]:
    """The kernel's writes left the last STACK_HEADROOM bytes of its stack
    as they were: painted (paint_the_stack), or, in a kernel booted
    without the stub, zero, as the loader leaves .bss. A stack reserved too
    small is overrun, and the stack pointer is back inside it at the halt:
    stack_problems cannot tell. (An overrun that skipped those bytes, a
    frame's unused locals lying there, would go unseen, and so would one
    that wrote zeros there.)"""
    bottom, top = machine.symbol("stack_bottom").value, machine.symbol("stack_top").value
    stack = machine.read_memory(bottom, top - bottom)
    untouched = len(stack) - len(stack.lstrip(unwritten))
    if untouched >= STACK_HEADROOM:
        return []
    return [f"the kernel wrote into its {top - bottom}-byte stack down to {bottom + untouched:#x}, {untouched} "
            f"bytes above stack_bottom: it ran out of stack or came within {STACK_HEADROOM} bytes of it; reserve "
            "more (an overrun writes into whatever lies below the stack)"]


def step_to_the_hlt(stub: GdbStub) -> int:
    """Steps the CPU from where it stands until it is about to execute a
    hlt; returns the hlt's address. A cli may come first, or nothing.
    QEMU's stub takes no interrupt while it steps the CPU, whatever
    EFLAGS.IF says."""
    start = stub.read_register(RIP)
    for _ in range(INSTRUCTIONS_BEFORE_THE_HLT):
        address = stub.read_register(RIP)
        if stub.read_memory(address, 1)[0] == HLT:
            return address
        stub.step()
    raise AssertionError(f"no hlt within {INSTRUCTIONS_BEFORE_THE_HLT} instructions of {start:#x}")


def non_maskable_interrupt_problems(machine: Machine, stub: GdbStub, halt: int) -> list[str]:
    """Runs the CPU to halt, the start of a halt loop, steps it to the hlt
    there, and plays a non-maskable interrupt (woken_problems)."""
    stub.run_to(halt)
    return woken_problems(machine, stub, step_to_the_hlt(stub))


def woken_problems(machine: Machine, stub: GdbStub, hlt: int) -> list[str]:
    """With the CPU about to execute the hlt at hlt, plays what a
    non-maskable interrupt, which cli does not hold back, does to the
    halt: it wakes the CPU, and its handler returns to the instruction
    after the hlt, with the flags as they were. The CPU goes on from there,
    and must halt again at the same hlt: a halt that is to last is a loop
    back to its hlt."""
    stub.write_register(RIP, hlt + 1)
    stub.detach()
    halted_at = machine.wait_until_halted().rip - 1  # RIP is past the hlt
    if halted_at == hlt:
        return []
    return [f"after a non-maskable interrupt woke the CPU from the hlt at {hlt:#x} "
            f"({machine.describe_address(hlt)}), it halted at {halted_at:#x} "
            f"({machine.describe_address(halted_at)}) instead: the halt must be a loop back to its hlt, "
            "since cli masks every interrupt but that one"]


def halt_forever_problems(machine: Machine, stub: GdbStub) -> list[str]:
    """halt_forever halts for good, whoever calls it: played in one boot.
    The loader hands over with interrupts off, and chapters 1 and 2 never
    turn them on; a later chapter does, and halts in the same halt_forever.
    So EFLAGS.IF is set at its entry, and read at its hlt, where it must be
    clear, or the halt lasts only until the next interrupt. The CPU is
    stepped to the hlt, not let run: these kernels have no handlers, and
    would triple-fault on an interrupt pending from before the cli. Then,
    IF cleared again so that the second play judges the loop alone, a
    non-maskable interrupt at that hlt (woken_problems)."""
    stub.run_to(machine.symbol("halt_forever").value)
    stub.write_register(EFLAGS, stub.read_register(EFLAGS) | INTERRUPT_FLAG)
    hlt = step_to_the_hlt(stub)
    flags = stub.read_register(EFLAGS)
    problems = []
    if flags & INTERRUPT_FLAG:
        problems.append(f"EFLAGS={flags:#x} at halt_forever's hlt ({machine.describe_address(hlt)}), called with "
                        "interrupts on: the interrupt flag is still set (no cli before the hlt)")
        stub.write_register(EFLAGS, flags & ~INTERRUPT_FLAG)
    return problems + woken_problems(machine, stub, hlt)
