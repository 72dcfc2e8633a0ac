"""Chapter 03, the VGA text writer: its demo kernel, checked from guest memory.

The chapter has no serial port yet, so the test waits until the demo has
panicked and the CPU has halted, then reads the 80x25 text buffer at
0xb8000. The expected screen is worked out here, independently of the
kernel: the demo's output written down as text and colours, then laid out
by the rules the writer must follow (a row is 80 cells, a character that
does not fit starts the next row, a newline starts the next row, from the
26th row on everything moves up). The screen must be the last 25 rows of
that layout, character for character and colour for colour.

A demo can paint that screen without a working writer, so the writer is
also given text the harness chooses (test_harness_text_*), put through
VgaWriter::put_char and set_text_color by code the test writes into the
halted kernel, and laid out by the same rules.
"""

from __future__ import annotations

import functools
import random
import re
import subprocess
from dataclasses import dataclass

import pytest

from build import BUILD_LIMITS, makefile_values, run_program_within_limits
from chapters import CHAPTERS, all_chapters
from elf import Symbol
from gdb_stub import EFLAGS, INTERRUPT_FLAG, RAX, RCX, RDI, RDX, RIP, RSI, RSP, GdbStub, GdbStubError
from halted import boots_its_own, same_boot
from machine import Machine
from vga_screen import (ADDRESS as SCREEN_ADDRESS, COLUMNS, CRTC_DATA_PORT, CRTC_INDEX_PORT, CURSOR_DISABLE,
                        CURSOR_LOCATION_LOW_REGISTER, CURSOR_START_REGISTER, ROWS, SIZE as SCREEN_SIZE, Screen,
                        describe_attribute)
from verdict import KernelFailure, Verdict

CHAPTER = "03-vga-text"
# The demo is deterministic and ends halted: one boot for every test of
# this module that reads it, and test_boot_state's of chapter 3 (halted.py).
# The plays through the gdb stub boot their own (boots_its_own).
pytestmark = same_boot(CHAPTER)
MAIN_CPP = CHAPTERS / CHAPTER / "main.cpp"

# Colour attributes: background in the high four bits, foreground in the low.
DEFAULT = 0x07  # light gray on black
TITLE = 0x1E  # yellow on blue
PANIC = 0x4F  # white on red
LIGHT_GRAY_BACKGROUND = 0x70
LONG_LINE_COLOUR = 0x30  # black on cyan
LOADERS_SCREEN = 0x5F  # white on magenta: a screen the kernel did not write
REP_STOSW_RET = bytes([0xF3, 0x66, 0xAB, 0xC3])  # rep stosw (AX into RCX cells at RDI), ret
PAUSE = bytes([0xF3, 0x90])  # the instruction a spin loop waits with

COLOUR_NAMES = ["Black", "Blue", "Green", "Cyan", "Red", "Magenta", "Brown", "LightGray",
                "DarkGray", "LightBlue", "LightGreen", "LightCyan", "LightRed", "Pink", "Yellow", "White"]

TITLE_TEXT = "Chapter 3: a VGA text writer with type-safe formatting"
LONG_LINE = ("A line longer than the screen is wide does not get lost: the writer continues "
             "it on the next row.")
RULER = "".join(str(column % 10) for column in range(1, COLUMNS + 1))  # exactly one row
NOT_ASCII = b"Not printable ASCII: caf\xc3\xa9 [\t] [\x01] [\x7f] -> one block per byte"
BLOCK = 0xFE  # code page 437's filled square, shown for bytes that are not printable ASCII
# The 8259 PICs' mask registers: a set bit keeps that line's interrupts out.
PIC_MASK_PORTS = (0x21, 0xA1)
# begin_panic(const char*, uint32_t) and finish_panic(), as the ELF names them.
BEGIN_PANIC = "_Z11begin_panicPKcj"
FINISH_PANIC = "_Z12finish_panicv"


def panic_call_line() -> int:
    """The line of main.cpp that calls panic(): the line the panic message
    must name. Found in the source, so that editing the demo keeps the test
    right."""
    lines = [number for number, text in enumerate(MAIN_CPP.read_text().splitlines(), start=1)
             if re.match(r"\s*panic\(", text)]
    assert len(lines) == 1, f"expected one panic( call in {MAIN_CPP}, found it on lines {lines}"
    return lines[0]


def panic_text() -> str:
    return f"KERNEL PANIC at main.cpp:{panic_call_line()}: the demo ends here, on purpose (code 42)"


def demo_output() -> list[tuple[bytes, int]]:
    """Everything the demo writes, in order: (bytes, colour attribute)."""
    output: list[tuple[bytes, int]] = []

    def write(text: str | bytes, attribute: int = DEFAULT) -> None:
        output.append((text.encode() if isinstance(text, str) else text, attribute))

    write(TITLE_TEXT, TITLE)
    write("\n")

    output += powers_of_two()

    for index, name in enumerate(COLOUR_NAMES):
        write("Colours:    " if index == 0 else "\n            " if index == 8 else "")
        write(name, LIGHT_GRAY_BACKGROUND if index == 0 else index)
        write(" ")
    write("\nBackgrounds:")
    for index in range(8):
        write(f" {index} ", index << 4 | 0x0F)
    write("\n")

    write(f"int64_t  {-2**63} .. {2**63 - 1}\n")
    write(f"uint64_t 0 .. {2**64 - 1}\n")
    write(f"int8_t {-2**7} .. {2**7 - 1}  uint8_t {2**8 - 1}  "
          f"int16_t {-2**15} .. {2**15 - 1}  uint16_t {2**16 - 1}\n")
    write(f"int32_t {-2**31} .. {2**31 - 1}  uint32_t {2**32 - 1}\n")
    write(f"hex {255:#x} -{1:#x} {2**64 - 1:#x} 0x{0xB8000:08x} 0x{0xDEADBEEF:016x}\n")
    # The 0x is not counted in the width: four spaces pad the two digits of 0xff to six.
    write(f"width [{42:6}] [{-42:6}] [{-42:06}] [    0xff] [{'text':6}] [{'true':6}] [{'c':3}]\n")
    write(f"pointers 0x{0xB8000:016x} 0x{0:016x}  bool true false  char ok\n")
    write("a null string (null)  literal braces { }\n")
    write(RULER + "\n")
    write(LONG_LINE, LONG_LINE_COLOUR)
    write("\n")
    write(NOT_ASCII)

    # The demo leaves that line unfinished: the panic starts a row of its own.
    write("\n")
    write(panic_text(), PANIC)
    write("\n")
    return output


def powers_of_two() -> list[tuple[bytes, int]]:
    """What show_scrolling() writes: a title and a table of 16 rows."""
    lines = ["Powers of two, enough rows to make the screen scroll:"]
    lines += [f"1 << {shift:2} = {1 << shift:20} = 0x{1 << shift:016x}" for shift in range(0, 64, 4)]
    return [(f"{line}\n".encode(), DEFAULT) for line in lines]


@dataclass(repr=False)
class Layout:
    """Output laid out in rows of cells, as an endless screen would show
    it: the demo's, or text the harness chose. Each cell is (code page 437
    byte, attribute)."""
    rows: list[list[tuple[int, int]]]

    def __repr__(self) -> str:  # pytest shows fixtures' values in a failure
        return f"<expected layout of {len(self.rows)} rows>"

    @property
    def last_screen(self) -> list[list[tuple[int, int]]]:
        """The 25 rows the screen shows: the last of the output, or all of
        it over the rows that the clear before it left blank."""
        return self.rows[-ROWS:] + [blank_row()] * (ROWS - len(self.rows))

    def row_text(self, row: list[tuple[int, int]]) -> str:
        return bytes(byte for byte, _ in row).decode("cp437").rstrip()

    def screen_lines(self) -> list[str]:
        return [self.row_text(row) for row in self.last_screen]

    def screen_row_of(self, text: str) -> int:
        """The row of the final screen whose text starts with `text`."""
        rows = [r for r, line in enumerate(self.screen_lines()) if line.startswith(text)]
        assert len(rows) == 1, f"the expected screen has {len(rows)} rows starting with {text!r}"
        return rows[0]


def blank_row(attribute: int = DEFAULT) -> list[tuple[int, int]]:
    return [(ord(" "), attribute)] * COLUMNS


def lay_out(output: list[tuple[bytes, int]]) -> Layout:
    """Output as (bytes, colour attribute) pairs, written from the top
    left of a screen cleared in the default colour, as the demo begins
    and as the plays of the harness's own text do."""
    # A row that appears by scrolling is blank in the colour of that moment.
    rows = [blank_row()]
    column = 0

    def start_row(attribute: int) -> None:
        nonlocal column
        rows.append(blank_row(DEFAULT if len(rows) < ROWS else attribute))
        column = 0

    for text, attribute in output:
        for byte in text:
            if byte == ord("\n"):
                start_row(attribute)
                continue
            if column == COLUMNS:
                start_row(attribute)
            glyph = byte if 0x20 <= byte <= 0x7E else BLOCK
            rows[-1] = rows[-1][:column] + [(glyph, attribute)] + rows[-1][column + 1:]
            column += 1
    return Layout(rows)


@pytest.fixture(scope="module")
def expected() -> Layout:
    return lay_out(demo_output())


@pytest.fixture
def screen(halted_kernel) -> Screen:
    return halted_kernel.machine.screen()


def test_demo_fills_more_rows_than_the_screen_has(expected):
    # A check of the premise of the scrolling checks, not of the kernel.
    assert len(expected.rows) > ROWS + 5, f"the demo fills only {len(expected.rows)} rows"


# The first test of the boot asks for it in its body rather than through
# the screen fixture, so that a boot that fails is this test's failure,
# not an error in its set-up; the later tests are skipped naming it.
def test_screen_shows_the_last_25_rows_of_the_output(request, halted_kernels, expected):
    screen = halted_kernels(CHAPTER, request.node).machine.screen()
    screen.expect_lines(expected.screen_lines())


def test_every_cell_matches_in_character_and_colour(screen, expected):
    # Stricter than the rows' text: blanks must be spaces (not zero bytes)
    # and every cell, blank or not, must have its colour.
    expect_cells(screen, expected.last_screen)


# What test_clear_waits_for_its_lock_blanks_a_full_screen_and_starts_again_at_the_top
# writes before its clear: the writer's place is then in the middle of a row.
LINE_LEFT_UNFINISHED = b"A line left without its newline, as the demo's last one"


@boots_its_own
def test_clear_waits_for_its_lock_blanks_a_full_screen_and_starts_again_at_the_top(boot, build, stub, tmp_path):
    """By the demo's end the screen it cleared first has scrolled away, so
    the demo alone cannot show what clear() does; and with one CPU and
    interrupts off, nothing in the demo ever finds the screen's lock held,
    so a lock() that took it without waiting passed every other test. The
    test plays both at the halt after the demo's panic, which keeps the
    lock and leaves a full screen. The CPU calls clear_screen(): it must
    spin, reaching its spin loop's pause with the screen untouched; once
    the test frees the lock, it must take it, clear the screen, and let it
    go again. Then the CPU puts a line without its newline through the
    writer (put_through_the_writer), calls set_text_color() with yellow
    on blue (which the demo never calls: it sets colours under a
    LockedScreen of its own) and clear_screen() again, then puts the
    demo's table of powers of two through the writer, each returning to
    halt_forever. The table must stand on a screen blanked in that colour,
    as print.h promises, from the top left: the demo's clear, in the
    default colour, showed a clear that ignored the colour just as well.
    (The demo's own functions that print the line and the table are not
    called: g++ folds them into kernel_main.)"""
    machine = boot(build.chapter(CHAPTER).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    halt_forever = machine.symbol("halt_forever").value
    stub.run_to(halt_forever)
    lock = machine.elf.object_named_like("screen_lock").value
    halted_screen = stub.read_memory(SCREEN_ADDRESS, SCREEN_SIZE)
    clear_screen = call_until_it_waits_for_the_lock(machine, stub, "clear_screen", returning_to=halt_forever)
    assert stub.read_memory(SCREEN_ADDRESS, SCREEN_SIZE) == halted_screen, (
        "clear_screen() changed the screen while it waited for the lock")
    stub.write_memory(lock, b"\x00")
    stub.run_to(machine.symbol("_ZN9VgaWriter5clearEv").value)
    held = stub.read_memory(lock, 1)[0]
    assert held == 1, (f"clear_screen() clears the screen while its lock holds {held}, not 1 (locked): "
                       "does lock() take the lock once it is free?")
    stub.run_to(halt_forever)
    held = stub.read_memory(lock, 1)[0]
    assert held == 0, f"after clear_screen() the screen's lock holds {held}, not 0 (free): does unlock() clear it?"
    assert stub.read_memory(SCREEN_ADDRESS, SCREEN_SIZE) == bytes([ord(" "), DEFAULT]) * (ROWS * COLUMNS), (
        "clear_screen() left the panic's full screen other than blank in the default colour")
    put_through_the_writer(machine, stub, tmp_path, [(LINE_LEFT_UNFINISHED, DEFAULT)])
    call_returning_to(stub, halt_forever, machine.elf.function_named_like("set_text_color").value)
    stub.write_register(RDI, TITLE)  # a ColorCode, one byte, is passed as an integer
    stub.run_to(halt_forever)
    call_returning_to(stub, halt_forever, clear_screen.value)
    stub.run_to(halt_forever)
    put_through_the_writer(machine, stub, tmp_path, [(text, TITLE) for text, _ in powers_of_two()], colour=TITLE)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    table = lay_out(powers_of_two()).last_screen
    expect_cells(machine.screen(), [[(byte, TITLE) for byte, _ in row] for row in table])


@boots_its_own
def test_the_demo_clears_the_screen_and_hides_the_cursor_the_loader_left(boot, build, stub):
    """GRUB leaves its own screen, under a BIOS one line that the demo's
    title covers, so a demo that did not clear it passed every other test;
    but a boot menu or a firmware's messages can fill the screen, and the
    demo's tables would stand among them. The test plays a full screen: as
    kernel_main begins, the CPU first fills every cell with '#' in white on
    magenta (the stub cannot write the VGA's memory itself). When the
    demo has ended, halted after its panic, no cell may show that '#': the
    rows that scrolled in are blanked by the scroll, but the demo's first
    rows still stand on the screen it found, to the right of their text.
    GRUB leaves the hardware cursor on, too, blinking among the text: the
    writer keeps its own place, so by then it must have disabled it (bit 5
    of the CRT controller's Cursor Start register), and kept the register's
    other bits (the cursor's first scan line, two reserved bits) as the
    firmware set them.
    The demo tells the writer once that the screen is there; a kernel may
    tell it again, or that it is not (chapter 4's test kernels do both), so
    the test plays both too. Told it is not, before kernel_main has read
    the boot information, the writer must leave the CRT controller's ports
    alone, as on a machine whose screen is pixels: the index port must
    still select the register the test left selected, and the cursor be as
    the loader left it. Told a second time that it is there, once the
    demo has ended, it must leave the cursor disabled. (The test stops at
    halt_forever, not after the demo's title: g++ folds the demo's
    functions into kernel_main, so there is no function to stop at.)"""
    machine = boot(build.chapter(CHAPTER).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    kernel_main = machine.symbol("kernel_main").value
    halt_forever = machine.symbol("halt_forever").value
    set_screen_present = machine.elf.function_named_like("set_screen_present").value
    stub.run_to(kernel_main)
    loaders = cursor_start_register(machine)
    assert not loaders & CURSOR_DISABLE, (
        f"the loader left the cursor disabled (Cursor Start {loaders:#04x}), so the test cannot see the kernel "
        "disable it")
    stack, information = stub.read_register(RSP), stub.read_register(RDI)
    machine.write_port(CRTC_INDEX_PORT, CURSOR_LOCATION_LOW_REGISTER)
    call_returning_to(stub, kernel_main, set_screen_present)
    stub.write_register(RDI, 0)
    stub.run_to(kernel_main)
    selected = machine.read_port(CRTC_INDEX_PORT)
    assert selected == CURSOR_LOCATION_LOW_REGISTER, (
        f"set_screen_present(false) left the CRT controller's index port (0x3d4) selecting register "
        f"{selected:#04x}, not {CURSOR_LOCATION_LOW_REGISTER:#04x} as the test left it: the writer wrote to the "
        "VGA's ports when told that there is no text screen, where there may be no VGA behind them")
    after_absent = cursor_start_register(machine)
    assert after_absent == loaders, (
        f"set_screen_present(false) changed the Cursor Start register from {loaders:#04x} to {after_absent:#04x}: "
        "told that there is no text screen, the writer must leave the VGA's ports alone")
    # The test's reads left the Cursor Start register selected, which would
    # hide a writer that read it without selecting it first.
    machine.write_port(CRTC_INDEX_PORT, CURSOR_LOCATION_LOW_REGISTER)
    # The bottom of the boot stack, far below what the kernel uses of it.
    fill = machine.symbol("stack_bottom").value
    stub.write_memory(fill, REP_STOSW_RET)
    call_returning_to(stub, kernel_main, fill)
    stub.write_register(RDI, SCREEN_ADDRESS)
    stub.write_register(RCX, ROWS * COLUMNS)
    stub.write_register(RAX, LOADERS_SCREEN << 8 | ord("#"))
    stub.run_to(kernel_main)
    stub.write_register(RSP, stack)
    stub.write_register(RDI, information)
    stub.run_to(halt_forever)
    screen = machine.screen()
    loaders_cell = (ord("#"), LOADERS_SCREEN)
    loaders_cells = [(row, column) for row in range(ROWS) for column in range(COLUMNS)
                     if (screen.cell(row, column).byte, screen.cell(row, column).attribute) == loaders_cell]
    assert not loaders_cells, (
        f"{len(loaders_cells)} cells of the demo's last screen still show the screen the loader left ('#' in "
        f"white on magenta), the first at row {loaders_cells[0][0]} column {loaders_cells[0][1]}: is the screen "
        f"cleared first?\n{screen.render(frozenset(row for row, _ in loaders_cells))}")
    final = cursor_start_register(machine)
    assert final & CURSOR_DISABLE, (
        f"the Cursor Start register reads {final:#04x} under the demo's screen: bit 5 (cursor disable) is clear, "
        "so the hardware cursor blinks among the demo's text")
    assert final & ~CURSOR_DISABLE == loaders & ~CURSOR_DISABLE, (
        f"the Cursor Start register went from {loaders:#04x} to {final:#04x}: beside bit 5 (cursor disable) "
        "the kernel changed bits the firmware set (the cursor's first scan line); select the register, read "
        "it, and set the one bit")
    # The demo's panic keeps the screen's lock, which set_screen_present takes.
    stub.write_memory(machine.elf.object_named_like("screen_lock").value, b"\x00")
    call_returning_to(stub, halt_forever, set_screen_present)
    stub.write_register(RDI, 1)
    stub.run_to(halt_forever)
    again = cursor_start_register(machine)
    assert again == final, (
        f"set_screen_present(true), called a second time, changed the Cursor Start register from {final:#04x} "
        f"to {again:#04x}: does it toggle bit 5 (cursor disable) rather than set it?")


# print.h's functions that change the writer's state, with an argument
# each: a colour (passed as its one byte) and "present".
WRITER_STATE_CHANGES = {"set_text_color": TITLE, "set_screen_present": 1}


@boots_its_own
def test_a_change_of_colour_or_of_the_screen_waits_for_its_lock(boot, build, stub):
    """print.h promises one writer guarded by a lock, and the demo changes
    the writer's colour under a LockedScreen of its own: a set_text_color
    or a set_screen_present that changed the writer without the lock showed
    every screen the same, as nothing in this chapter finds the lock held.
    On two CPUs a colour changed so would come out in the middle of
    another's line. The test plays a held lock for each, at the halt after
    the demo's panic, which keeps it: the CPU calls the function, which
    must reach its spin loop's pause; once the test frees the lock, it must
    return to halt_forever with the lock free again."""
    machine = boot(build.chapter(CHAPTER).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    halt_forever = machine.symbol("halt_forever").value
    lock = machine.elf.object_named_like("screen_lock").value
    stub.run_to(halt_forever)
    for name, argument in WRITER_STATE_CHANGES.items():
        stub.write_memory(lock, b"\x01")
        call_until_it_waits_for_the_lock(machine, stub, name, returning_to=halt_forever, argument=argument)
        stub.write_memory(lock, b"\x00")
        stub.run_to(halt_forever)
        held = stub.read_memory(lock, 1)[0]
        assert held == 0, f"after {name}() the screen's lock holds {held}, not 0 (free): is it let go?"
    stub.detach()


def call_until_it_waits_for_the_lock(machine: Machine, stub: GdbStub, name: str, *, returning_to: int,
                                     argument: int | None = None) -> Symbol:
    """With the screen's lock held: calls the function `name` (with its one
    argument, if given), to return to `returning_to`, and runs the CPU to
    its spin loop's pause, which it must reach, waiting there for the lock.
    Returns the function's symbol."""
    function = machine.elf.function_named_like(name)
    code = machine.elf.initial_bytes(function.value, function.size)
    assert PAUSE in code, f"{name}() has no pause: where does it wait for the screen's lock?"
    call_returning_to(stub, returning_to, function.value)
    if argument is not None:
        stub.write_register(RDI, argument)
    try:
        stub.run_to(function.value + code.index(PAUSE))
    except GdbStubError as error:
        pytest.fail(f"{name}() with the screen's lock held never reached its spin loop ({error}): does it take "
                    "the screen's lock, and wait for it to be free?")
    return function


def cursor_start_register(machine: Machine) -> int:
    """The VGA CRT controller's Cursor Start register (0x0a), read through
    its index and data ports (0x3d4, 0x3d5), as a kernel would read it."""
    machine.write_port(CRTC_INDEX_PORT, CURSOR_START_REGISTER)
    return machine.read_port(CRTC_DATA_PORT)


def call_returning_to(stub: GdbStub, return_address: int, function: int) -> None:
    """Makes the CPU, stopped at a function's first instruction
    (return_address), enter `function` as a call would, returning to where
    it stopped, on a stack aligned as the ABI wants at a function's entry
    (RSP + 8 a multiple of 16), below what the stopped code used."""
    top = (stub.read_register(RSP) & ~0xF) - 0x100
    stub.write_memory(top - 8, return_address.to_bytes(8, "little"))
    stub.write_register(RSP, top - 8)
    stub.write_register(RIP, function)


def assemble(tmp_path, source: str, **defines: int) -> bytes:
    """NASM's flat binary of `source`, each keyword a %define."""
    (tmp_path / "play.asm").write_text(source)
    built = subprocess.run(["nasm", "-f", "bin", *(f"-D{name}={value:#x}" for name, value in defines.items()),
                            "-o", str(tmp_path / "play.bin"), str(tmp_path / "play.asm")],
                           capture_output=True, text=True)
    assert built.returncode == 0, f"the test's own code does not assemble:\n{built.stderr}"
    return (tmp_path / "play.bin").read_bytes()


@boots_its_own
def test_every_byte_shows_as_its_ascii_character_or_a_block(boot, build, stub, tmp_path):
    """The demo shows a few bytes outside printable ASCII, and no edge of
    the range but 0x7f. The test plays every byte: when the demo's panic
    reaches halt_forever, the CPU clears the screen and puts each byte but
    the newline, 0x00 to 0xff, through VgaWriter::put_char, then returns to
    halt_forever. 0x20 (space) to 0x7e (~) must show as themselves, every
    other byte as the block, in the default colour."""
    played = bytes(byte for byte in range(256) if byte != ord("\n"))
    screen = play_through_the_writer(boot, build, stub, tmp_path, [(played, DEFAULT)])
    expect_cells(screen, lay_out([(played, DEFAULT)]).last_screen)


# The screen a writer leaves after text the harness chooses. The demo's
# screen alone can be painted: a kernel that copied the finished screen to
# 0xb8000, with a put_char that did nothing, passed every test that reads
# it. So these tests play text that no kernel can know beforehand through
# the writer itself, and lay it out with the same model as the demo's
# output. Each text comes from a random.Random with a fixed seed, named in
# a failure's first line: the same text on every run, a student's and the
# grader's, and one that its test's generator gives again from the seed.
PRINTABLE = bytes(range(0x20, 0x7F))
# The lengths at which wrapping goes wrong: an empty line, one character,
# and a row, two rows, each less one, exactly and plus one.
EDGE_LENGTHS = (0, 1, COLUMNS - 1, COLUMNS, COLUMNS + 1, 2 * COLUMNS - 1, 2 * COLUMNS, 2 * COLUMNS + 1)
ONE_SCREEN_SEED = 3
SCROLLING_SEED = 80
COLOURS_SEED = 25
# The rows that the lines of the plays that scroll fill, not counting the
# blank rows of their runs of newlines: with those, the screen scrolls
# some eighty times, each row of text coming in at the bottom.
SCROLLING_ROWS = 3 * ROWS


def random_line(rng: random.Random, length: int) -> bytes:
    return bytes(rng.choice(PRINTABLE) for _ in range(length))


def rows_taken(length: int) -> int:
    """The rows a line of `length` characters takes, an empty one too."""
    return max(1, -(-length // COLUMNS))


def lines_on_one_screen(rng: random.Random) -> bytes:
    """A line of each edge length, in random order and characters, each
    followed by a run of newlines, three in a row at least once; last a
    line exactly a row wide, with no newline after it, on the bottom row.
    25 rows in all: nothing scrolls, so a wrong cell is a mistake of
    wrapping or of newlines."""
    lengths = list(EDGE_LENGTHS)
    rng.shuffle(lengths)
    # Each newline after a line's first starts a blank row: those rows
    # fill what the lines leave of the screen above the last line.
    blank_rows = ROWS - 1 - sum(rows_taken(length) for length in lengths)
    runs = [1] * len(lengths)
    runs[rng.randrange(len(runs))] += 2
    for _ in range(blank_rows - 2):
        runs[rng.randrange(len(runs))] += 1
    text = b"".join(random_line(rng, length) + b"\n" * run for length, run in zip(lengths, runs))
    return text + random_line(rng, COLUMNS)


def line_lengths_that_scroll(rng: random.Random) -> list[int]:
    """The edge lengths, and random ones up to three rows, in random order,
    until the lines fill SCROLLING_ROWS rows."""
    lengths = list(EDGE_LENGTHS)
    while sum(rows_taken(length) for length in lengths) < SCROLLING_ROWS:
        lengths.append(rng.randrange(3 * COLUMNS))
    rng.shuffle(lengths)
    return lengths


def lines_that_scroll(rng: random.Random) -> bytes:
    """Lines of line_lengths_that_scroll, each followed by one to three
    newlines, in the default colour."""
    return b"".join(random_line(rng, length) + b"\n" * rng.randint(1, 3) for length in line_lengths_that_scroll(rng))


def coloured_lines_that_scroll(rng: random.Random) -> list[tuple[bytes, int]]:
    """Lines of line_lengths_that_scroll, each cut into pieces of random
    colours (any attribute byte), once where it wraps if it does, and
    followed by one to three newlines in a colour of their own: a row that
    comes in at the bottom then is blank in the colour of the newline or
    of the character that wrapped onto it."""
    output = []
    for length in line_lengths_that_scroll(rng):
        cuts = set(rng.sample(range(1, length), min(2, length - 1))) if length > 1 else set()
        if length > COLUMNS:
            cuts.add(COLUMNS)
        bounds = [0, *sorted(cuts), length]
        line = random_line(rng, length)
        output += [(line[start:end], rng.randrange(0x100)) for start, end in zip(bounds, bounds[1:])]
        output.append((b"\n" * rng.randint(1, 3), rng.randrange(0x100)))
    return output


# Puts each (byte, colour attribute) pair from RDI up to RSI through the
# writer, the writer's colour being EDX at the start: set_text_color(colour)
# where the colour changes, then VgaWriter::put_char(writer, byte). One stop
# of the gdb stub for thousands of calls.
PUT_EACH_PAIR = """bits 64
    push rbx                    ; callee-saved, all three; and three pushes align the stack for the calls
    push r12
    push r13
    mov rbx, rdi
    mov r12, rsi
    mov r13d, edx
.next:
    cmp rbx, r12
    je .done
    movzx edi, byte [rbx + 1]   ; the pair's colour: a ColorCode is passed as its one byte
    cmp edi, r13d
    je .put
    mov r13d, edi
    mov rax, SET_TEXT_COLOR
    call rax
.put:
    mov rdi, WRITER
    movsx esi, byte [rbx]       ; the byte, as a char
    mov rax, PUT_CHAR
    call rax
    add rbx, 2
    jmp .next
.done:
    pop r13
    pop r12
    pop rbx
    ret
"""
# Stack kept below where call_returning_to puts the play's return address,
# for the play's pushes and the frames of put_char and set_text_color
# (some hundred bytes, UBSan's checks included).
STACK_FOR_THE_CALLS = 0x800


def play_through_the_writer(boot, build, stub, tmp_path, output: list[tuple[bytes, int]]) -> Screen:
    """Boots the demo, and when its panic reaches halt_forever, frees the
    screen's lock the panic kept, clears the screen in the default colour
    and puts `output` through the writer, then lets the CPU halt again:
    the screen it leaves."""
    machine = boot(build.chapter(CHAPTER).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    halt_forever = machine.symbol("halt_forever").value
    stub.run_to(halt_forever)
    stub.write_memory(machine.elf.object_named_like("screen_lock").value, b"\x00")
    call_returning_to(stub, halt_forever, machine.elf.function_named_like("clear_screen").value)
    stub.run_to(halt_forever)
    put_through_the_writer(machine, stub, tmp_path, output)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    return machine.screen()


def put_through_the_writer(machine: Machine, stub: GdbStub, tmp_path, output: list[tuple[bytes, int]],
                           colour: int = DEFAULT) -> None:
    """With the CPU stopped at halt_forever and the screen's lock free,
    puts `output` through the writer (PUT_EACH_PAIR), whose colour is
    `colour` at the start, and stops the CPU at halt_forever again. The
    play's code and pairs go at the bottom of the boot stack, far below
    what the kernel uses of it; in pieces, if the stack is too small for
    all of them at once."""
    halt_forever = machine.symbol("halt_forever").value
    play = machine.symbol("stack_bottom").value
    code = assemble(tmp_path, PUT_EACH_PAIR,
                    WRITER=machine.elf.object_named_like("16screenE").value,  # print.cpp's
                    SET_TEXT_COLOR=machine.elf.function_named_like("set_text_color").value,
                    PUT_CHAR=machine.symbol("_ZN9VgaWriter8put_charEc").value)
    stub.write_memory(play, code)
    pairs = bytes(value for text, attribute in output for byte in text for value in (byte, attribute))
    first_pair = play + len(code)
    room = ((stub.read_register(RSP) & ~0xF) - 0x100 - STACK_FOR_THE_CALLS - first_pair) & ~1
    assert room >= COLUMNS, f"the boot stack has {room} bytes free below the kernel's use of it: too few to play text"
    for start in range(0, len(pairs), room):
        piece = pairs[start:start + room]
        stub.write_memory(first_pair, piece)
        call_returning_to(stub, halt_forever, play)
        stub.write_register(RDI, first_pair)
        stub.write_register(RSI, first_pair + len(piece))
        stub.write_register(RDX, colour)
        try:
            stub.run_to(halt_forever)
        except GdbStubError as error:
            pytest.fail(f"the writer never got through the harness's text ({error}): does put_char or "
                        "set_text_color spin or fault on some of it?")
        colour = piece[-1]


def expect_the_layout_of(screen: Screen, output: list[tuple[bytes, int]], text: str) -> None:
    """Every cell of the screen as lay_out has it, or a failure whose first
    line names the text played (`text`, with its seed)."""
    __tracebackhide__ = True
    layout = lay_out(output)
    try:
        expect_cells(screen, layout.last_screen)
    except KernelFailure as failure:
        expected = "\n".join(f"{row:2} {layout.row_text(cells)!r}" for row, cells in enumerate(layout.last_screen))
        raise KernelFailure(failure.verdict, f"after {text}, {failure.summary}", failure.hint,
                            f"{failure.details}\n\nthe rows expected:\n{expected}") from None


@boots_its_own
def test_harness_text_wraps_at_column_80_and_each_newline_starts_a_row(boot, build, stub, tmp_path):
    """The demo writes one line of exactly 80 characters and one longer,
    both on the bottom row of a full screen, and never two newlines in a
    row. The test plays a line of each length at which wrapping goes
    wrong (lines_on_one_screen): empty, 1, 79, 80, 81, 159, 160 and 161
    characters, each followed by newlines, up to the bottom row, whose
    line is exactly 80 characters with no newline: the writer must wrap
    it only when another character needs the room, so nothing scrolls."""
    output = [(lines_on_one_screen(random.Random(ONE_SCREEN_SEED)), DEFAULT)]
    assert len(lay_out(output).rows) == ROWS, "the premise: the text fills the screen, and no more"
    screen = play_through_the_writer(boot, build, stub, tmp_path, output)
    expect_the_layout_of(screen, output, f"lines_on_one_screen(random.Random({ONE_SCREEN_SEED}))")


@boots_its_own
def test_harness_text_scrolls_again_and_again_keeping_the_last_25_rows(boot, build, stub, tmp_path):
    """The demo's screen scrolls ten times, the same way each run. The
    test plays lines of the edge lengths and random ones, between runs of
    newlines, over three screens' worth of rows (lines_that_scroll): every
    scroll must move each row up by one, the oldest gone, and blank the
    bottom row, wherever the line that needs it is."""
    output = [(lines_that_scroll(random.Random(SCROLLING_SEED)), DEFAULT)]
    screen = play_through_the_writer(boot, build, stub, tmp_path, output)
    expect_the_layout_of(screen, output, f"lines_that_scroll(random.Random({SCROLLING_SEED}))")


@boots_its_own
def test_harness_text_changes_colour_from_the_next_character_on(boot, build, stub, tmp_path):
    """The demo changes colour some forty times, always to the same
    colours at the same places, through a LockedScreen, never through
    set_text_color, and only to backgrounds 0-7. The test plays lines that
    scroll, in pieces of random colours (any attribute byte), a change of
    colour where each long line wraps, and newlines in colours of their
    own (coloured_lines_that_scroll), each change through set_text_color:
    each character must have the colour set last before it, and each row
    that comes in at the bottom be blank in the colour of the moment."""
    output = coloured_lines_that_scroll(random.Random(COLOURS_SEED))
    screen = play_through_the_writer(boot, build, stub, tmp_path, output)
    expect_the_layout_of(screen, output, f"coloured_lines_that_scroll(random.Random({COLOURS_SEED}))")


# How many instructions test_the_writer_stores_one_cell_at_a_time steps
# through from the start of finish_panic to the scroll's first store: some
# forty with clang, more with g++ and its UBSan checks, far fewer than this.
INSTRUCTIONS_BEFORE_THE_SCROLL = 1000
# How many it watches from that store on: the scroll's first forty cells or
# so, two instructions a cell, which a compiler that merged the scroll's
# copies would merge from the first.
INSTRUCTIONS_WATCHED = 80


def cell_of(screen: bytes, cell: int) -> bytes:
    """A cell's character and attribute, of a screen read as bytes."""
    return screen[2 * cell:2 * cell + 2]


@boots_its_own
def test_the_writer_stores_one_cell_at_a_time(boot, build, stub):
    """vga.cpp's text buffer is volatile: each cell the source writes is
    one two-byte store, made where the source makes it. A compiler that
    took the buffer for plain memory may merge a scroll's copies into
    wider moves (clang copies four cells at a time), or leave out a write
    it finds overwritten; the screen ends the same in QEMU either way, so
    the test watches the stores as they happen. It steps the CPU into the
    end of the demo's panic, whose newline scrolls a full screen, one
    instruction at a time, reading the screen after each: none may change
    more than one cell."""
    machine = boot(build.chapter(CHAPTER).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol(FINISH_PANIC).value)
    first = before = stub.read_memory(SCREEN_ADDRESS, SCREEN_SIZE)

    def step_watching_the_screen() -> list[int]:
        """Steps one instruction; the cells it changed, of which there may be one."""
        nonlocal before
        address = stub.read_register(RIP)
        stub.step()
        after = stub.read_memory(SCREEN_ADDRESS, SCREEN_SIZE)
        changed = [cell for cell in range(ROWS * COLUMNS) if cell_of(before, cell) != cell_of(after, cell)]
        assert len(changed) <= 1, (
            f"the instruction at {address:#x} ({machine.elf.function_at(address)}) changed {len(changed)} cells "
            f"at once ({', '.join(f'row {cell // COLUMNS} column {cell % COLUMNS}' for cell in changed)}): "
            "is the text buffer still volatile?")
        before = after
        return changed

    changed_cells = set()
    for _ in range(INSTRUCTIONS_BEFORE_THE_SCROLL):
        changed_cells.update(step_watching_the_screen())
        if changed_cells:
            break
    for _ in range(INSTRUCTIONS_WATCHED if changed_cells else 0):
        changed_cells.update(step_watching_the_screen())
    stub.detach()
    # The premise: the stores watched are a scroll's copies, each cell now
    # holding what the cell below it held.
    copies = [cell for cell in changed_cells if cell_of(before, cell) == cell_of(first, cell + COLUMNS)]
    assert changed_cells and len(copies) == len(changed_cells), (
        f"of the {len(changed_cells)} cells that finish_panic changed in its first "
        f"{INSTRUCTIONS_BEFORE_THE_SCROLL} instructions and the {INSTRUCTIONS_WATCHED} after its first store, "
        f"{len(copies)} took the cell below them: that is no scroll")


def expect_cells(screen: Screen, rows: list[list[tuple[int, int]]]) -> None:
    """Each cell holds its byte in its colour."""
    __tracebackhide__ = True
    wrong = []
    for row, cells in enumerate(rows):
        for column, (byte, attribute) in enumerate(cells):
            found = screen.cell(row, column)
            if (found.byte, found.attribute) != (byte, attribute):
                wrong.append((row, f"row {row} column {column}: expected byte {byte:#04x} in "
                                   f"{describe_attribute(attribute)}, found byte {found.byte:#04x} "
                                   f"in {describe_attribute(found.attribute)}"))
    if wrong:
        raise KernelFailure(
            Verdict.FAIL, f"wrong cells: {len(wrong)} differ, the first at {wrong[0][1]}",
            "each cell at 0xb8000 is a code page 437 byte, then its colour attribute",
            "\n".join(message for _, message in wrong[:20])
            + "\n\n" + screen.render(frozenset(row for row, _ in wrong)))


def test_the_title_and_first_rows_scrolled_away(screen):
    screen.expect_absent([TITLE_TEXT, "Powers of two", "1 <<  0 ="])


def test_scrolling_blanks_the_bottom_row(screen):
    # The panic message ends with a newline, which scrolled the screen once
    # more: the bottom row is new, blank, in the default colour.
    screen.expect_text(ROWS - 1, 0, " " * COLUMNS, DEFAULT)


def test_palette_shows_each_colour_as_foreground(screen, expected):
    first_row = expected.screen_row_of("Colours:")
    for index, name in enumerate(COLOUR_NAMES):
        row = first_row + index // 8
        column = expected.screen_lines()[row].index(name)
        screen.expect_text(row, column, name, LIGHT_GRAY_BACKGROUND if index == 0 else index)


def test_palette_shows_the_eight_background_colours(screen, expected):
    row = expected.screen_row_of("Backgrounds:")
    for index in range(8):
        screen.expect_text(row, len("Backgrounds:") + 3 * index, f" {index} ", index << 4 | 0x0F)


def test_extreme_integers(screen):
    screen.expect_contains([
        "int64_t  -9223372036854775808 .. 9223372036854775807",
        "uint64_t 0 .. 18446744073709551615",
        "int8_t -128 .. 127  uint8_t 255  int16_t -32768 .. 32767  uint16_t 65535",
        "int32_t -2147483648 .. 2147483647  uint32_t 4294967295",
    ])


def test_hexadecimal_and_padding(screen):
    screen.expect_contains([
        "1 << 60 =  1152921504606846976 = 0x1000000000000000",
        "hex 0xff -0x1 0xffffffffffffffff 0x000b8000 0x00000000deadbeef",
        "width [    42] [   -42] [-00042] [    0xff] [text  ] [true  ] [c  ]",
    ])


def test_pointers_bool_and_char(screen):
    screen.expect_contains(["pointers 0x00000000000b8000 0x0000000000000000  bool true false  char ok"])


def test_null_string_and_literal_braces(screen):
    screen.expect_contains(["a null string (null)  literal braces { }"])


# The message of format.h's static_assert on a char8_t, char16_t, char32_t or
# wchar_t, or a string of them.
FOREIGN_CHARACTER_ERROR = "a screen cell holds one byte"
# format.h promises that a wrong format call does not compile. A kernel that
# let one through would print something, and nothing at run time says it is
# wrong: each call here must fail to compile, naming its error.
FORMAT_CALLS_THAT_MUST_NOT_COMPILE = {
    "placeholder_without_argument": ('"{} {}", 1', "format_error_placeholder_without_argument"),
    "argument_without_placeholder": ('"{}", 1, 2', "format_error_argument_without_placeholder"),
    "unknown_spec_letter": ('"{:d}", 1', "format_error_malformed_placeholder"),
    "width_of_three_digits": ('"{:100}", 1', "format_error_malformed_placeholder"),
    "unclosed_placeholder": ('"{", 1', "format_error_malformed_placeholder"),
    "unmatched_closing_brace": ('"}"', "format_error_unmatched_closing_brace"),
    "hex_string": ('"{:x}", "text"', "format_error_spec_does_not_suit_the_argument_type"),
    "zero_padded_bool": ('"{:05}", true', "format_error_spec_does_not_suit_the_argument_type"),
    "hex_char": ('"{:x}", \'c\'', "format_error_spec_does_not_suit_the_argument_type"),
    "pointer_with_a_width": ('"{:20}", &sink', "format_error_spec_does_not_suit_the_argument_type"),
    "zero_padded_pointer": ('"{:0x}", &sink', "format_error_spec_does_not_suit_the_argument_type"),
    # No FormatArgument constructor takes an enum class or a struct.
    "enum_class": ('"{}", Shade::dark', "FormatArgument"),
    # Characters of other encodings, which would print as numbers, and
    # strings of them, which would print as addresses (std::format refuses
    # them too, with a char format string). Each type once; a string as a
    # literal (a const array) and as a pointer to non-const, the two kinds
    # of pointer format.h checks.
    "char8_t": ("\"{}\", u8'a'", FOREIGN_CHARACTER_ERROR),
    "char16_t": ("\"{}\", u'a'", FOREIGN_CHARACTER_ERROR),
    "char32_t": ("\"{}\", U'a'", FOREIGN_CHARACTER_ERROR),
    "wchar_t": ("\"{}\", L'a'", FOREIGN_CHARACTER_ERROR),
    "char8_t_string": ('"{}", u8"text"', FOREIGN_CHARACTER_ERROR),
    "char32_t_string": ('"{}", static_cast<char32_t*>(nullptr)', FOREIGN_CHARACTER_ERROR),
}
FORMAT_CALL_SOURCE = """#include "format.h"
enum class Shade {{ dark }};
struct Sink : OutputSink {{
    void put_char(char) override {{}}
}};
void call() {{
    Sink sink;
    format_to(sink, {arguments});
}}
"""


# panic() takes a format string as format_to does, checked the same way.
PANIC_CALL_SOURCE = """#include "panic.h"
void call() {{
    panic({arguments});
}}
"""


@functools.cache
def kernel_compiler(chapter: str = CHAPTER) -> tuple[list[str], list[str]]:
    """The compiler and the flags make builds a chapter's kernel with."""
    compiler, flags = makefile_values(chapter, "$(CXX)", "$(CXXFLAGS)")
    return compiler.split(), flags.split()


def compile_format_call(tmp_path, arguments: str, template: str = FORMAT_CALL_SOURCE) -> subprocess.CompletedProcess:
    """Compiles one format_to call (or the call of another template) against
    this chapter's headers, with the compiler and flags the kernel was built
    with (as make has them)."""
    chapter = CHAPTERS / CHAPTER
    compiler, flags = kernel_compiler()
    source = tmp_path / "format_call.cpp"
    source.write_text(template.format(arguments=arguments))
    # Only checked, not compiled: no object and no dependency file. Within
    # a build's limits: the student's templates could keep the compiler busy.
    command = compiler + [word for word in flags if word not in ("-MMD", "-MP")] + [
        "-fsyntax-only", "-I", str(chapter), str(source)]
    return run_program_within_limits(command, f"compiling {source.name} against format.h", BUILD_LIMITS)


# Edges the demo does not reach, each call's output beside what format.h
# promises: text one shorter than its width, a value as wide as its width
# or wider, the widest width, zeros after a sign and a prefix; and the
# longest numbers, whose every digit the sanitizer sees written.
FORMAT_EDGES = [
    ('"[{:5}]", "text"', "[text ]"),
    ('"[{:4}]", "text"', "[text]"),
    ('"[{:3}]", "text"', "[text]"),
    ('"[{:2}]", \'c\'', "[c ]"),
    ('"[{:5}] [{:5}]", true, false', "[true ] [false]"),
    # A char is written as itself, '\0' too, as std::format writes it.
    ('"[{}] [{:3}]", \'\\0\', \'\\0\'', "[\0] [\0  ]"),
    ('"[{:3}] [{:2}] [{:1}]", 42, 42, 42', "[ 42] [42] [42]"),
    ('"[{:3}] [{:4}] [{:04}]", -42, -42, -42', "[-42] [ -42] [-042]"),
    # Zero has no sign: the demo shows no signed zero, so a test of
    # `value <= 0` for the sign printed "-0" unseen.
    ('"{} [{:3}] [{:03}] {:x}", 0, 0, 0, 0', "0 [  0] [000] 0x0"),
    ('"[{:2x}] [{:3x}] [{:03x}]", 255u, 255u, 255u', "[0xff] [ 0xff] [0x0ff]"),
    ('"[{:99}]", 1', "[" + "1".rjust(99) + "]"),
    ('"{:x} {:x}", INT64_MIN, INT64_MAX', f"-{2**63:#x} {2**63 - 1:#x}"),
    ('"{} {}", UINT64_MAX, INT64_MIN', f"{2**64 - 1} {-2**63}"),
    ('"{} {}", static_cast<signed char>(-1), static_cast<unsigned char>(200)', "-1 200"),
    # long long is no intN_t on x86_64 (int64_t is long): a literal like -1LL.
    ('"{} {}", -1LL, 18446744073709551615ULL', f"-1 {2**64 - 1}"),
    # A char* is text, not an address, as a const char* is.
    ('"{}", const_cast<char*>("text")', "text"),
    ('"{{}}{}{}}}", 1, 2', "{}12}"),
    ('""', ""),
]
# vformat_to called directly, as by a caller with a format string of its
# own making that no compiler checked: a placeholder without its argument
# writes nothing, and a brace that starts no valid placeholder is text.
VFORMAT_EDGES = [
    ('sink, "[{}] [{:q}] [{", nullptr, 0', "[] [{:q}] [{"),
]


# Chapter 3's format.cpp, and the copies that the chapters after it carry
# and are graded on alone.
FORMAT_CHAPTERS = [directory for directory in all_chapters() if (CHAPTERS / directory / "format.cpp").exists()]


@pytest.mark.parametrize("directory", FORMAT_CHAPTERS)
def test_format_edges_on_the_host(tmp_path, directory):
    """The chapter's format.cpp, compiled for the host with a sink that
    writes to standard output, formats each edge as format.h says. The
    undefined behaviour sanitizer watches it: a digit written past the end
    of its buffer, or INT64_MIN negated as a signed number, prints the
    right text here and in the kernel, until the compiler or the stack
    around it changes."""
    edges = [(f"format_to(sink, {arguments})", wanted) for arguments, wanted in FORMAT_EDGES] + \
        [(f"vformat_to({arguments})", wanted) for arguments, wanted in VFORMAT_EDGES]
    calls = "".join(f"    {call};\n    putchar('\\n');\n" for call, _ in edges)
    driver = tmp_path / "format_edges.cpp"
    driver.write_text(f"""#include <stdio.h>
#include "format.h"
struct Sink : OutputSink {{
    void put_char(char character) override {{ putchar(character); }}
}};
int main() {{
    Sink sink;
{calls}}}
""")
    compiler, _ = kernel_compiler(directory)
    program = tmp_path / "format_edges"
    built = run_program_within_limits([*compiler, "-std=c++20", "-g", "-fsanitize=undefined",
                                       "-fno-sanitize-recover=all", "-I", str(CHAPTERS / directory),
                                       str(CHAPTERS / directory / "format.cpp"), str(driver), "-o", str(program)],
                                      "format.cpp built for the host", BUILD_LIMITS, writes_into=[tmp_path])
    assert built.returncode == 0, f"format.cpp does not build for the host:\n{built.stderr}"
    # The student's code, run: a loop that never ends, or prints without
    # end, stops at its limits with a verdict that says so.
    run = run_program_within_limits([str(program)], "format.cpp's calls, run on the host", writes_into=[tmp_path])
    assert run.returncode >= 0, f"the program crashed (signal {-run.returncode}) in the calls:\n{run.stdout}"
    assert run.returncode == 0, f"format.cpp breaks a rule of C++ (undefined behaviour):\n{run.stderr}"
    lines = run.stdout.split("\n")[:-1]
    assert len(lines) == len(edges), f"expected {len(edges)} lines, one per call, got:\n{lines}"
    wrong = [f"{call} wrote {line!r}, not {wanted!r}" for (call, wanted), line in zip(edges, lines) if line != wanted]
    assert not wrong, "\n".join(wrong)


def test_a_right_format_call_compiles(tmp_path):
    # The premise of the next test: its calls fail for their error alone.
    # A char32_t passed as an integer, as format.h's refusal of it advises.
    result = compile_format_call(tmp_path, '"{} {:06x} {:3} {} {}", -1, 255u, "a", &sink, uint32_t{U\'a\'}')
    assert result.returncode == 0, f"a correct format_to call does not compile:\n{result.stderr}"


@pytest.mark.parametrize("call", FORMAT_CALLS_THAT_MUST_NOT_COMPILE)
def test_a_wrong_format_call_does_not_compile(tmp_path, call):
    arguments, error = FORMAT_CALLS_THAT_MUST_NOT_COMPILE[call]
    result = compile_format_call(tmp_path, arguments)
    assert result.returncode != 0, f"format_to(sink, {arguments}) compiles, but format.h says it must not"
    assert error in result.stderr, (
        f"format_to(sink, {arguments}) does not compile, but the compiler does not name {error}:\n"
        f"{result.stderr}")


def test_a_wrong_panic_call_does_not_compile(tmp_path):
    """A panic() that took its message as a plain string, and formatted it
    with vformat_to, would show the demo's panic just as well, and print a
    wrong call's message without its missing argument."""
    right = compile_format_call(tmp_path, '"page {} of {}", 1, 2', PANIC_CALL_SOURCE)
    assert right.returncode == 0, f"a correct panic call does not compile:\n{right.stderr}"
    wrong = compile_format_call(tmp_path, '"page {} of {}", 1', PANIC_CALL_SOURCE)
    assert wrong.returncode != 0, 'panic("page {} of {}", 1) compiles: is its format string checked?'
    assert "format_error_placeholder_without_argument" in wrong.stderr, (
        f'panic("page {{}} of {{}}", 1) does not compile, but the compiler does not name '
        f"format_error_placeholder_without_argument:\n{wrong.stderr}")


# ColorCode's constructor is constexpr and inlined where it is called: no
# play through the gdb stub can call it, so every pair of colours is
# checked where the compiler works it out.
COLOUR_CODE_SOURCE = """#include "vga.h"
{arguments}
"""


def test_a_colour_code_holds_any_foreground_on_any_background(tmp_path):
    """The demo's backgrounds are colours 0-7 alone, and the plays of the
    harness's text pass attribute bytes as they are: a ColorCode that kept
    three bits of the background (taking the top one for blinking) showed
    the same screens. Each of the 256 pairs of colours is checked by a
    static_assert, compiled against vga.h with the kernel's compiler and
    flags: the background must be in the high four bits, the foreground in
    the low four."""
    checks = "\n".join(
        f"static_assert(ColorCode{{Color::{foreground}, Color::{background}}}.value() == "
        f'{back << 4 | fore:#04x}, "{foreground} on {background} must be {back << 4 | fore:#04x}");'
        for back, background in enumerate(COLOUR_NAMES) for fore, foreground in enumerate(COLOUR_NAMES))
    result = compile_format_call(tmp_path, checks, COLOUR_CODE_SOURCE)
    # The compiler names each pair twice, or once, and stops at its limit of errors.
    wrong = list(dict.fromkeys(re.findall(r"\w+ on \w+ must be 0x[0-9a-f]{2}", result.stderr)))
    assert not wrong, (f"ColorCode packs pairs of colours wrong: {', '.join(wrong[:4])}"
                       f"{', ...' if len(wrong) > 4 else ''} (the first the compiler names)")
    assert result.returncode == 0, f"the checks of ColorCode do not compile against vga.h:\n{result.stderr}"


def test_a_line_of_exactly_80_characters_takes_one_row(screen, expected):
    row = expected.screen_row_of(RULER)
    screen.expect_lines([RULER, LONG_LINE[:COLUMNS]], first_row=row)


def test_long_line_wraps_at_column_80(screen, expected):
    assert len(LONG_LINE) > COLUMNS
    row = expected.screen_row_of(LONG_LINE[:COLUMNS])
    screen.expect_lines([LONG_LINE[:COLUMNS], LONG_LINE[COLUMNS:]], first_row=row)


def test_a_row_begun_by_wrapping_is_blank_in_the_colour_of_the_moment(screen, expected):
    # The long line wraps on a full screen: the row it continues on comes
    # in by scrolling, blanked in the line's colour, so the cells after its
    # text keep its background rather than the default's.
    row = expected.screen_row_of(LONG_LINE[:COLUMNS]) + 1
    screen.expect_text(row, 0, LONG_LINE[COLUMNS:].ljust(COLUMNS), LONG_LINE_COLOUR)


def test_bytes_outside_printable_ascii_show_as_a_block(screen, expected):
    row = expected.screen_row_of("Not printable ASCII:")
    shown = "".join("\N{BLACK SQUARE}" if byte < 0x20 or byte > 0x7E else chr(byte) for byte in NOT_ASCII)
    assert shown.count("\N{BLACK SQUARE}") == 5  # two UTF-8 bytes of the e, tab, 0x01, 0x7f
    screen.expect_text(row, 0, shown, DEFAULT)


def test_panic_names_file_and_line_in_white_on_red(screen, expected):
    row = expected.screen_row_of("KERNEL PANIC")
    screen.expect_text(row, 0, panic_text(), PANIC)


def test_panic_line_number_points_at_the_panic_call(screen):
    lines = [line for line in screen.lines() if line.startswith("KERNEL PANIC at ")]
    assert lines, "no KERNEL PANIC line on the screen:\n" + screen.render()
    match = re.match(r"KERNEL PANIC at (\S+):(\d+): ", lines[0])
    assert match, f"the panic line does not name file:line: {lines[0]!r}"
    file, line = match.group(1), int(match.group(2))
    assert file == "main.cpp", f"the panic names {file!r}, but the demo panics in main.cpp"
    source = MAIN_CPP.read_text().splitlines()
    assert 1 <= line <= len(source), f"main.cpp has {len(source)} lines, the panic names line {line}"
    assert "panic(" in source[line - 1], (
        f"the panic names main.cpp:{line}, which is not the panic call: {source[line - 1].strip()!r}")


def test_the_cpu_halts_with_interrupts_off_after_the_panic(halted_kernel):
    machine, registers = halted_kernel.machine, halted_kernel.registers
    assert registers.halted and not registers.interrupts_enabled, (
        f"after a panic the CPU must halt with interrupts off; registers:\n{registers.text}")
    assert machine.screen().row_text(ROWS - 2).startswith("KERNEL PANIC"), (
        "the CPU halted, but the panic message is not the last line:\n" + machine.screen().render())


def test_the_panic_keeps_the_screen_locked(halted_kernel):
    # screen_for_panic takes the lock when it is free and never lets it go:
    # nothing may print into the message, from another CPU or a handler
    # (none runs in this chapter, so only the lock itself shows it).
    lock = halted_kernel.elf.object_named_like("screen_lock")
    held = halted_kernel.machine.read_memory(lock.value, 1)[0]
    assert held == 1, (f"after the panic print.cpp's screen_lock holds {held}, not 1 (locked): "
                       "the panic must take it, so that nothing else prints into its message")


def turn_interrupts_on_with_every_line_masked(machine: Machine, stub: GdbStub) -> None:
    """Sets EFLAGS.IF in a kernel that never turns interrupts on, having
    first masked every line of both PICs: no interrupt may come, since the
    kernel may have no IDT to take it."""
    for port in PIC_MASK_PORTS:
        machine.write_port(port, 0xFF)
    stub.write_register(EFLAGS, stub.read_register(EFLAGS) | INTERRUPT_FLAG)


def flags_of_a_panic_begun_with_interrupts_on(machine: Machine, stub: GdbStub, printing: int) -> int:
    """Plays a panic begun with interrupts on: EFLAGS where the CPU reaches
    `printing`, the stub detached."""
    stub.run_to(machine.elf.function_named_like("begin_panic").value)
    turn_interrupts_on_with_every_line_masked(machine, stub)
    stub.run_to(printing)
    flags = stub.read_register(EFLAGS)
    stub.detach()
    return flags


@boots_its_own
def test_a_panic_amid_a_print_shows_with_interrupts_off_and_a_panic_within_it_halts(boot, build, stub):
    """A panic may strike halfway through a print, from chapter 5 on in an
    exception handler, with interrupts on; and a fault in its own printing
    would begin another panic. Nothing in the demo does any of this, so one
    boot plays all three, as the demo's panic begins:
    - it takes the screen's lock, as the print the panic interrupted would
      hold it, by code that never runs again: a panic that waited for it
      would wait forever, with nothing on the screen;
    - it sets EFLAGS.IF (GRUB hands over with interrupts masked and this
      chapter never unmasks them, so a begin_panic without its cli showed
      the same): by finish_panic, IF must be clear, or an interrupt handler
      could print into the middle of the message; the screen must by then
      be the demo's, its message printed;
    - as the panic calls finish_panic, the CPU goes into begin_panic
      instead, as a second panic would (its file a null pointer, line 7):
      it must halt and print nothing, or it would print over the first and
      begin again at each fault. The first message stays on the bottom
      row, without the newline finish_panic would have added."""
    machine = boot(build.chapter(CHAPTER).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    stub.run_to(machine.symbol(BEGIN_PANIC).value)
    screen_lock = machine.elf.object_named_like("screen_lock")
    stub.write_memory(screen_lock.value, b"\x01")  # Spinlock's one member, locked_
    turn_interrupts_on_with_every_line_masked(machine, stub)
    try:
        stub.run_to(machine.symbol(FINISH_PANIC).value)
    except GdbStubError as error:
        pytest.fail(f"a panic that found the screen's lock held never printed its message ({error}): "
                    "does screen_for_panic wait for the lock?")
    flags = stub.read_register(EFLAGS)
    assert not flags & INTERRUPT_FLAG, (
        f"EFLAGS={flags:#x} at finish_panic: a panic begun with interrupts on printed its message with them "
        "still on (no cli in begin_panic?), so an interrupt handler could print into the middle of it")
    # Everything the demo writes but the newline that ends the panic.
    machine.screen().expect_lines(lay_out(demo_output()[:-1]).screen_lines())
    stub.write_register(RDI, 0)
    stub.write_register(RSI, 7)
    stub.write_register(RIP, machine.symbol(BEGIN_PANIC).value)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    screen = machine.screen()
    screen.expect_absent(["KERNEL PANIC at (null)"])
    screen.expect_text(ROWS - 1, 0, panic_text(), PANIC)


@boots_its_own
def test_a_panic_at_the_start_of_a_line_starts_no_other(boot, build, stub):
    """The demo panics in the middle of a line, so its panic must start a
    row of its own. At the start of a line it must not: a blank row
    between the text and the panic would be a newline nobody printed. The
    test plays it: as the demo's panic begins, the CPU first clears the
    screen, then begins the panic with its own arguments again. The panic
    must stand on the top row."""
    machine = boot(build.chapter(CHAPTER).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    begin_panic = machine.symbol(BEGIN_PANIC).value
    stub.run_to(begin_panic)
    stack, file, line = (stub.read_register(register) for register in (RSP, RDI, RSI))
    call_returning_to(stub, begin_panic, machine.elf.function_named_like("clear_screen").value)
    stub.run_to(begin_panic)
    stub.write_register(RSP, stack)
    stub.write_register(RDI, file)
    stub.write_register(RSI, line)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    machine.screen().expect_text(0, 0, panic_text(), PANIC)


@boots_its_own
def test_a_clear_or_a_panic_before_the_screen_is_known_to_be_there_writes_nothing_to_it(boot, build, stub):
    """Until kernel_main has found VGA text mode in the boot information,
    the writer must not touch 0xb8000, which under UEFI may be plain
    memory or nothing (chapter 2's main.cpp): a clear or a panic then
    shows nowhere. The demo clears only once it knows, so the test plays
    both: as kernel_main begins, the CPU first calls clear_screen(), then
    goes into begin_panic (its file a null pointer, line 7), which returns
    into finish_panic, as a panic would go on. GRUB's screen must stay as
    it was, cell for cell."""
    machine = boot(build.chapter(CHAPTER).iso(), qemu_args=stub.qemu_arguments(), timeout=10)
    kernel_main = machine.symbol("kernel_main").value
    stub.run_to(kernel_main)
    loaders_screen = stub.read_memory(SCREEN_ADDRESS, SCREEN_SIZE)
    assert loaders_screen != bytes([ord(" "), DEFAULT]) * (ROWS * COLUMNS), (
        "the loader left a blank screen, on which a clear would not show")
    stack = stub.read_register(RSP)
    call_returning_to(stub, kernel_main, machine.elf.function_named_like("clear_screen").value)
    stub.run_to(kernel_main)
    stub.write_register(RSP, stack)
    call_returning_to(stub, machine.symbol(FINISH_PANIC).value, machine.symbol(BEGIN_PANIC).value)
    stub.write_register(RDI, 0)
    stub.write_register(RSI, 7)
    stub.detach()
    machine.wait_until_halted_in("halt_forever")
    screen = machine.screen()
    assert screen.memory == loaders_screen, (
        "the writer changed the screen before kernel_main said it was there; the screen now:\n" + screen.render())
