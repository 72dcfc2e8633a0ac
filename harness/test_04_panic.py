"""Chapters 04-06: the panic path, where no passing run goes.

A panic raised while a panic prints halts at once.

A fault in the middle of a panic's message raises a panic of its own. Begun
again, the panic would print over the first message and, if its cause
recurs, panic again until the stack runs out. So panic.cpp (chapter 3 on)
halts when a panic begins while another prints, and leaves the first
message as far as it got. The nested_panic test kernel panics inside its
own panic: the CPU must halt in halt_forever, with the first message on
serial and on the screen, in white on red as every panic, and nothing of
the second. Without the guard,
the second panic ends the test as a panic that passes, and QEMU exits
instead of halting. Chapters 05 and 06 carry panic.cpp and the test kernels
unchanged.

The test leaves both outputs in the middle of a line before it panics, as
a test's own output may be: the message must begin a line of its own on
each, and the screen must show the message, not only its heading.

A panic on the bottom row scrolls the screen with the newline that ends
its message, and the row that comes in is blanked in the colour of that
moment: the normal one again, or the red runs on below the message. A test
kernel ends QEMU after its panic, before anyone can look, so the should_panic
kernel's test on a full screen is booted on a machine without the exit
device: its exit writes to nothing, and it halts (qemu_exit.h). That test
panics at the start of a line, on the screen and on serial, where the panic
must begin no new one.

A panic turns interrupts off before it prints: an interrupt handler that
printed would write into its message. Chapters 04-06 never turn them on,
so the test plays a kernel that has: with both PICs masked, so that no
interrupt comes, it sets the interrupt flag as a panic begins, and reads
it back as the panic puts its first character on the screen.

A panic calls the ending the test runner set, and only one that is set:
a panic before the runner sets it must halt after its message. The test
plays it through the gdb stub, taking the ending away as a test panics.
"""

import re

import pytest

import ktap
import x86_exceptions
from gdb_stub import INTERRUPT_FLAG
from test_03_vga_text import flags_of_a_panic_begun_with_interrupts_on
from verdict import KernelFailure
from vga_screen import COLUMNS, ROWS, describe_attribute

CHAPTERS = ["04-testing", "05-cpu-exceptions", "06-double-faults"]
LINE_BEFORE = "the line before the panic"
# At the start of a line on serial, after the runner's "# ", and on the screen.
HEADING = r"KERNEL PANIC at tests/nested_panic\.cpp:\d+: "
FIRST_MESSAGE = "the first panic,"
SECOND_MESSAGE = "the second panic"
WHITE_ON_RED = 0x4F
NORMAL_COLOUR = 0x07  # light grey on black, print.h's kDefaultTextColor
SCREEN_PUT_CHAR = "_ZN9VgaWriter8put_charEc"
SHOULD_PANIC_TEST = "should_panic_panic_ends_the_test"
SHOULD_PANIC_HEADING = r"KERNEL PANIC at tests/should_panic\.cpp:\d+: on purpose, code 42"
FULL_SCREEN_TEST = "should_panic_on_the_bottom_row"
FULL_SCREEN_PANIC = r"KERNEL PANIC at tests/should_panic\.cpp:\d+: on the bottom row"
LAST_FILLING_LINE = "filling the screen, row 24"  # the test's last println before its panic


@pytest.mark.parametrize("directory", CHAPTERS)
def test_a_panic_inside_a_panic_halts_with_the_first_message(boot, build, directory):
    machine = boot(build.chapter(directory).iso("nested_panic"), timeout=5)
    machine.wait_for_serial(f"^# {re.escape(LINE_BEFORE)}\r?\n# {HEADING}{re.escape(FIRST_MESSAGE)}")
    machine.wait_until_halted_in("halt_forever")
    # The screen, read from memory at the halt, holds all the kernel
    # printed (serial may still be on its way): one panic, the first.
    screen = machine.screen()
    assert screen.text().count("KERNEL PANIC") == 1 and SECOND_MESSAGE not in screen.text(), \
        f"the second panic printed too:\n{screen.render()}"
    lines = screen.lines()
    panic_row = next((row for row, line in enumerate(lines) if re.match(HEADING + re.escape(FIRST_MESSAGE), line)),
                     None)
    assert panic_row is not None and lines[panic_row - 1].startswith(LINE_BEFORE), (
        f"expected the first panic's heading and message at the start of the row after {LINE_BEFORE!r}:\n"
        + screen.render())
    screen.expect_text(panic_row, 0, lines[panic_row].rstrip(), attribute=WHITE_ON_RED)


@pytest.mark.parametrize("directory", CHAPTERS)
def test_a_panic_that_scrolls_leaves_the_new_bottom_row_in_the_normal_colour(boot, build, directory):
    """The test fills the screen with lines and panics at the start of the
    next: on each output the panic must begin where the cursor stands, with
    no empty line before it."""
    machine = boot(build.chapter(directory).iso("should_panic"), command_line=f"tests={FULL_SCREEN_TEST}",
                   exit_device=False, timeout=5)
    machine.wait_until_halted_in("halt_forever")
    result = ktap.parse(machine.serial_text).result(FULL_SCREEN_TEST)
    assert result is not None and result.ok, (
        f"expected the run to report {FULL_SCREEN_TEST} passed ('ok 1 {FULL_SCREEN_TEST}') before the kernel "
        f"halted:\n{machine.serial_text}")
    first = next(iter(result.message), "")
    assert re.fullmatch(FULL_SCREEN_PANIC, first), (
        f"on serial, the panic must begin on the line after '# running {FULL_SCREEN_TEST}', where the console "
        f"stood at the start of a line, but the first line after it is {first!r}: begin_panic must start "
        f"a new line only when the console is in the middle of one")
    screen = machine.screen()
    panic_row = screen.row_text(ROWS - 2)
    assert screen.row_text(ROWS - 3) == LAST_FILLING_LINE and re.fullmatch(FULL_SCREEN_PANIC, panic_row), (
        f"expected {LAST_FILLING_LINE!r}, then the panic, on the last rows but one (the panic's newline scrolled "
        f"the screen); a blank row between them is a newline the panic put before its heading where the cursor "
        f"stood at the start of a row:\n" + screen.render())
    screen.expect_text(ROWS - 2, 0, panic_row, attribute=WHITE_ON_RED)
    colours = sorted({screen.cell(ROWS - 1, column).attribute for column in range(COLUMNS)})
    assert screen.row_text(ROWS - 1) == "" and colours == [NORMAL_COLOUR], (
        f"the panic's newline scrolled the screen, and the new bottom row is blank in "
        f"{', '.join(describe_attribute(colour) for colour in colours)}, not in the normal "
        f"{describe_attribute(NORMAL_COLOUR)}: the panic must set the normal colour back before its last newline, "
        f"not after it\n{screen.render()}")


@pytest.mark.parametrize("directory", CHAPTERS)
def test_a_panic_with_no_ending_set_halts_after_its_message(boot, build, stub, directory):
    """Until the test runner sets a panic ending, there is none: a panic in
    test_main.cpp's setup, or in a kernel that never sets one, must print
    its message and halt. The test plays one: as should_panic's test
    panics, the ending the runner set is taken away."""
    machine = boot(build.chapter(directory).iso("should_panic"), command_line=f"tests={SHOULD_PANIC_TEST}",
                   qemu_args=stub.qemu_arguments(), timeout=5)
    stub.run_to(machine.elf.function_named_like("begin_panic").value)
    ending = machine.elf.object_named_like("panic_ending")
    stub.write_memory(ending.value, bytes(ending.size))
    stub.detach()
    failure = None
    try:
        machine.wait_until_halted_in("halt_forever")
    except KernelFailure as caught:
        failure = caught
    raised = [exception for exception, _ in machine.exceptions()]
    if failure is not None or raised:
        pytest.fail("a panic with no panic ending set must print its message and halt, but "
                    + (f"the CPU raised {x86_exceptions.describe(raised[0].vector)}" if raised else "it did not halt in halt_forever")
                    + ": finish_panic must call the ending only when one is set (nullptr until the runner sets one)\n"
                    + (failure.describe() if failure is not None else machine.serial_text))
    assert re.fullmatch(f"# {SHOULD_PANIC_HEADING}", machine.serial_lines[-1]), (
        f"expected the panic's message last on serial, and no report of the run after it:\n{machine.serial_text}")


@pytest.mark.parametrize("directory", CHAPTERS)
def test_a_panic_turns_interrupts_off_before_it_prints(boot, build, stub, directory):
    machine = boot(build.chapter(directory).iso("should_panic"), command_line=f"tests={SHOULD_PANIC_TEST}",
                   qemu_args=stub.qemu_arguments(), timeout=5)
    # EFLAGS as the panic puts its first character on the screen.
    flags = flags_of_a_panic_begun_with_interrupts_on(machine, stub, machine.symbol(SCREEN_PUT_CHAR).value)
    assert not flags & INTERRUPT_FLAG, (
        "interrupts were on as the panic began, and still on when it printed: begin_panic must turn them off "
        "(cli) before it prints, or an interrupt handler that prints would write into the message")
    machine.expect_exit_success()
