"""What a kernel printed on its serial port, as text a test can match.

The bytes come through a pipe as the kernel sent them; they are decoded as
UTF-8 and the line endings normalised to "\\n" as they arrive.
"""

from __future__ import annotations

import codecs
import re


# Control characters other than tab and newline: C0, DEL and C1. A kernel
# may send any byte (a garbage pointer printed as a string), and an escape
# sequence shown as it came would clear or recolour the terminal that shows
# the failure, or retitle its window.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """The text with each control character written as Python writes it in
    a string (ESC as \\x1b), for failure messages; tab and newline stay."""
    return _CONTROL_CHARACTER.sub(lambda match: repr(match.group())[1:-1], text)


def normalise_line_endings(text: str, at_line_start: bool = False) -> tuple[str, str]:
    """Turns "\\r\\n" (and "\\r\\r\\n") into "\\n", and drops
    carriage returns at the start of a line, where they move nothing: a
    guest that ends its lines with "\\n\\r" sends one before each line, which
    would keep `^` from matching there. Output comes in chunks, and whether
    carriage returns at the end of one end a line shows only with the next:
    they are returned apart, to be put in front of the next chunk, which
    `at_line_start` says begins a line. Returns (normalised text, carriage
    returns)."""
    pending = len(text) - len(text.rstrip("\r"))
    lines = re.sub(r"\r+\n", "\n", text[:len(text) - pending])
    lines = re.sub(r"(?:^|(?<=\n))\r+" if at_line_start else r"(?<=\n)\r+", "", lines)
    return lines, text[len(text) - pending:]


class SerialOutput:
    def __init__(self) -> None:
        self.text = ""  # line endings normalised
        self.received = bytearray()  # as they came
        self._carriage_returns = ""  # at the end so far: "\r\n" to come, or just "\r"?
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def bytes_received(self) -> int:
        return len(self.received)

    def take(self, chunk: bytes) -> None:
        self.received += chunk
        text, self._carriage_returns = normalise_line_endings(self._carriage_returns + self._decoder.decode(chunk),
                                                              at_line_start=self.text.endswith("\n") or not self.text)
        self.text += text

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def last_line(self) -> str | None:
        """The last line that is not blank."""
        lines = [line for line in self.lines if line.strip()]
        return lines[-1] if lines else None
