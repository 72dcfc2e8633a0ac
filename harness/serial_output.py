"""What a kernel printed on its serial port, as text a test can match.

The bytes come through a pty, which turns "\\n" into "\\r\\n" (and a guest's
"\\r\\n" into "\\r\\r\\n"); they are decoded as UTF-8 and the line endings
normalised to "\\n" as they arrive.
"""

from __future__ import annotations

import codecs
import re


def normalise_line_endings(text: str) -> tuple[str, str]:
    """Turns the pty's "\\r\\n" (and a guest's "\\r\\r\\n") into "\\n". Output
    comes in chunks, and whether carriage returns at the end of one end a
    line shows only with the next: they are returned apart, to be put in
    front of the next chunk. Returns (normalised text, carriage returns)."""
    pending = len(text) - len(text.rstrip("\r"))
    return re.sub(r"\r+\n", "\n", text[:len(text) - pending]), text[len(text) - pending:]


class SerialOutput:
    def __init__(self) -> None:
        self.text = ""  # line endings normalised
        self.received = bytearray()  # as they came from the pty
        self._carriage_returns = ""  # at the end so far: "\r\n" to come, or just "\r"?
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def bytes_received(self) -> int:
        return len(self.received)

    def take(self, chunk: bytes) -> None:
        self.received += chunk
        text, self._carriage_returns = normalise_line_endings(self._carriage_returns + self._decoder.decode(chunk))
        self.text += text

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def last_line(self) -> str | None:
        """The last line that is not blank."""
        lines = [line for line in self.lines if line.strip()]
        return lines[-1] if lines else None
