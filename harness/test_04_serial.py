"""Chapter 4: serial output under back-pressure.

The harness stops reading the serial port for a while, as a slow terminal
or a busy log would. The pipe between QEMU and the harness fills (made
4 KiB for this test, a fifth of the flood), QEMU's UART keeps its byte
until the host takes it, and the kernel must wait for the transmit holding
register to be empty before each byte: a kernel that does not overwrites
the waiting byte, and text is lost. It must also wait long enough: one
that calls the UART stuck within the pause (10 million polls took 0.55 s)
drops the rest of its output. serial_flood writes 300 numbered lines;
every one must arrive whole, and the kernel must still have been writing
when the pause ended: a flood the pipe took whole would prove nothing.
(The pipe is small so that it cannot: the kernel can never be more than
4 KiB ahead of the harness when the pause begins.)
Chapters 05 and 06 carry the serial port and the kernel unchanged.
"""

import re
import time

import pytest

CHAPTERS = ["04-testing", "05-cpu-exceptions", "06-double-faults"]
LINES = 300
SERIAL_BUFFER = 4096  # bytes the pipe holds: the least Linux allows, one page
PAYLOAD = "the quick brown fox jumps over the lazy dog 0123456789abcdef"
PAUSE = 1.0  # seconds without reading: the kernel writes on meanwhile
FLOOD_LINE = re.compile(r"# flood (\d{4}) (.*)")


@pytest.fixture(params=CHAPTERS)
def chapter(request, build):
    return build.chapter(request.param)


def test_no_byte_is_lost_while_the_reader_pauses(boot, chapter):
    machine = boot(chapter.iso("serial_flood"), timeout=60, serial_buffer=SERIAL_BUFFER)
    machine.wait_for_serial(r"^# flood 0000 ")
    time.sleep(PAUSE)  # nobody reads the pipe now
    held_back = machine.running
    machine.expect_exit_success()

    flood = [line for line in machine.serial_lines if line.startswith("# flood")]
    wrong = [f"line {index}: {line!r}" for index, line in enumerate(flood)
             if not (match := FLOOD_LINE.fullmatch(line)) or int(match[1]) != index or match[2] != PAYLOAD]
    assert len(flood) == LINES and not wrong, (
        f"{len(flood)} of {LINES} flood lines arrived, {len(wrong)} of them damaged or out of order; "
        f"first: {wrong[:3]}")
    assert held_back, (
        f"the kernel had written its whole flood before the {PAUSE} s pause ended, so nothing held it back "
        f"and the test proved nothing: the flood must be larger than the {SERIAL_BUFFER}-byte pipe")
