"""Chapters 04-06: a panic raised while a panic prints halts at once.

A fault in the middle of a panic's message raises a panic of its own. Begun
again, the panic would print over the first message and, if its cause
recurs, panic again until the stack runs out. So panic.cpp (chapter 3 on)
halts when a panic begins while another prints, and leaves the first
message as far as it got. The nested_panic test kernel panics inside its
own panic: the CPU must halt in halt_forever, with the first message on
serial and on the screen, and nothing of the second. Without the guard,
the second panic ends the test as a panic that passes, and QEMU exits
instead of halting. Chapters 05 and 06 carry panic.cpp and the test kernel
unchanged.
"""

import re

import pytest

CHAPTERS = ["04-testing", "05-cpu-exceptions", "06-double-faults"]
FIRST_MESSAGE = re.compile(r"KERNEL PANIC at tests/nested_panic\.cpp:\d+: the first panic, ")
SECOND_MESSAGE = "the second panic"


@pytest.mark.parametrize("directory", CHAPTERS)
def test_a_panic_inside_a_panic_halts_with_the_first_message(boot, build, directory):
    machine = boot(build.chapter(directory).iso("nested_panic"), timeout=5)
    machine.wait_for_serial(FIRST_MESSAGE)
    machine.wait_until_halted_in("halt_forever")
    # The screen, read from memory at the halt, holds all the kernel
    # printed (serial may still be on its way): one panic, the first.
    screen = machine.screen()
    assert screen.text().count("KERNEL PANIC") == 1 and SECOND_MESSAGE not in screen.text(), \
        f"the second panic printed too:\n{screen.render()}"
