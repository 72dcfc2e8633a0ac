"""The VGA text screen, read from guest memory at 0xb8000, and checks of it
that explain themselves when they fail.

In text mode the screen is 25 rows of 80 cells, each two bytes: the
character in code page 437 (the IBM PC's character set) and its colour
attribute (background in the high four bits, foreground in the low four).
Reading the cells from memory checks exactly what the kernel wrote, colours
included, which neither serial output nor a screenshot would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from verdict import KernelFailure, Verdict

ADDRESS = 0xB8000
COLUMNS = 80
ROWS = 25
SIZE = COLUMNS * ROWS * 2

# The VGA's CRT controller, which draws the screen and its hardware cursor:
# a register's number goes to the index port, then its value is read or
# written at the data port. Bit 5 of Cursor Start hides the cursor.
CRTC_INDEX_PORT, CRTC_DATA_PORT = 0x3D4, 0x3D5
CURSOR_START_REGISTER = 0x0A
CURSOR_LOCATION_LOW_REGISTER = 0x0F
CURSOR_DISABLE = 1 << 5

COLOUR_NAMES = ["black", "blue", "green", "cyan", "red", "magenta", "brown", "light grey",
                "dark grey", "light blue", "light green", "light cyan", "light red",
                "light magenta", "yellow", "white"]


def describe_attribute(attribute: int) -> str:
    """0x0a -> '0x0a (light green on black)'."""
    return f"{attribute:#04x} ({COLOUR_NAMES[attribute & 0xF]} on {COLOUR_NAMES[(attribute >> 4) & 0xF]})"


# Python's cp437 codec decodes bytes 0x01-0x1f and 0x7f as control
# characters, which would break a rendering (0x0a is a newline); the screen
# shows them as the IBM PC's glyphs.
_CONTROL_GLYPHS = "\u263a\u263b\u2665\u2666\u2663\u2660\u2022\u25d8\u25cb\u25d9\u2642\u2640\u266a\u266b\u263c" \
                  "\u25ba\u25c4\u2195\u203c\u00b6\u00a7\u25ac\u21a8\u2191\u2193\u2192\u2190\u221f\u2194\u25b2\u25bc"
CP437 = [" "] + list(_CONTROL_GLYPHS) + [bytes([b]).decode("cp437") for b in range(0x20, 0x7F)] + ["\u2302"] + \
    [bytes([b]).decode("cp437") for b in range(0x80, 0x100)]


NOT_TEXT_MODE = ("no text screen: every byte at 0xb8000 reads 0xff, where no memory answers; the VGA is not in "
                 "text mode (under UEFI it never is; under a BIOS, the kernel switched it to a graphics mode, or "
                 "moved its memory window through the Graphics Controller's Miscellaneous register)")


@dataclass(frozen=True)
class Cell:
    byte: int  # the character's code in code page 437
    attribute: int

    @property
    def character(self) -> str:
        """The character as Unicode, for display. Byte 0 shows as a space,
        as it does on a real screen."""
        return CP437[self.byte]


class Screen:
    def __init__(self, memory: bytes):
        if len(memory) != SIZE:
            raise ValueError(f"a text screen is {SIZE} bytes, not {len(memory)}")
        self.memory = memory

    def cell(self, row: int, column: int) -> Cell:
        at = (row * COLUMNS + column) * 2
        return Cell(self.memory[at], self.memory[at + 1])

    def row_text(self, row: int) -> str:
        """One row as text, trailing blanks removed."""
        return "".join(self.cell(row, c).character for c in range(COLUMNS)).rstrip()

    def lines(self) -> list[str]:
        return [self.row_text(r) for r in range(ROWS)]

    def text(self) -> str:
        return "\n".join(self.lines()).rstrip("\n")

    @property
    def unmapped(self) -> bool:
        """No memory answered at 0xb8000: a read from an address nothing
        decodes gives 0xff in every byte. The VGA maps its memory there
        only in text mode (its Miscellaneous register says where)."""
        return self.memory == b"\xff" * SIZE

    def is_blank(self) -> bool:
        return not self.unmapped and not self.text().strip()

    def render(self, mark_rows: frozenset[int] = frozenset()) -> str:
        """The screen framed, with row numbers; rows in `mark_rows` are
        marked with '>' so that a reader finds them at once. An unmapped
        text buffer is said to be one: its cells would look blank."""
        if self.unmapped:
            return NOT_TEXT_MODE
        ruler = "     +" + "-" * COLUMNS + "+"
        rows = [ruler]
        for r in range(ROWS):
            marker = ">" if r in mark_rows else " "
            rows.append(f"{marker}{r:3} |{''.join(self.cell(r, c).character for c in range(COLUMNS))}|")
        rows.append(ruler)
        return "\n".join(rows)

    # Checks. Each raises a KernelFailure (verdict FAIL) whose message shows
    # what was expected beside the screen that was there.

    def _hint(self, hint: str) -> str:
        return NOT_TEXT_MODE if self.unmapped else hint

    def expect_text(self, row: int, column: int, text: str, attribute: int | None = None) -> None:
        """The cells from (row, column) on hold exactly `text` (and, if
        given, each has the colour attribute)."""
        __tracebackhide__ = True
        wrong = []
        for i, expected_character in enumerate(text):
            r, c = divmod(row * COLUMNS + column + i, COLUMNS)
            cell = self.cell(r, c)
            if cell.character != expected_character:
                wrong.append(f"row {r} column {c}: expected {expected_character!r}, found {cell.character!r}")
            elif attribute is not None and cell.attribute != attribute:
                wrong.append(f"row {r} column {c} ({cell.character!r}): expected colour "
                             f"{describe_attribute(attribute)}, found {describe_attribute(cell.attribute)}")
        if wrong:
            cells = [self.cell(*divmod(row * COLUMNS + column + i, COLUMNS)) for i in range(len(text))]
            found = "".join(cell.character for cell in cells)
            if found == text:
                colours = ", ".join(describe_attribute(a) for a in sorted({cell.attribute for cell in cells}))
                summary = f"wrong colour: {text!r} at row {row} column {column} is in {colours}, " \
                          f"expected {describe_attribute(attribute)}"
            else:
                colour = f" in {describe_attribute(attribute)}" if attribute is not None else ""
                summary = f"wrong screen: expected {text!r}{colour} at row {row} column {column}, found {found!r}"
            raise KernelFailure(
                Verdict.FAIL,
                summary,
                self._hint("the cells are read from guest memory at 0xb8000: character byte, then attribute byte"),
                "\n".join(wrong[:10] + ([f"... and {len(wrong) - 10} more"] if len(wrong) > 10 else []))
                + "\n\n" + self.render(frozenset({row})))

    def expect_lines(self, expected: list[str | re.Pattern[str]], first_row: int = 0) -> None:
        """Rows from `first_row` on read exactly these lines (trailing blanks
        ignored); a compiled pattern must match its whole row."""
        __tracebackhide__ = True
        report, bad_rows = [], set()
        for i, want in enumerate(expected):
            row = first_row + i
            got = self.row_text(row) if row < ROWS else None
            if got is None:
                report.append(f"MISSING row {row}: {_show(want)} (beyond the screen)")
                bad_rows.add(ROWS - 1)
            elif _matches(want, got):
                report.append(f"GOOD    row {row}: {got!r}")
            else:
                report.append(f"BAD     row {row}: expected {_show(want)}\n"
                              f"                found    {got!r}")
                bad_rows.add(row)
        if bad_rows:
            raise KernelFailure(
                Verdict.FAIL,
                f"wrong screen: {len(bad_rows)} of {len(expected)} expected rows differ "
                f"(first at row {min(bad_rows)})",
                self._hint("compare the expected rows with the screen below"),
                "\n".join(report) + "\n\n" + self.render(frozenset(bad_rows)))

    def expect_contains(self, expected: list[str | re.Pattern[str]]) -> None:
        """Each expected line appears somewhere on the screen, in order
        (for text whose row may move, e.g. after scrolling)."""
        __tracebackhide__ = True
        lines = self.lines()
        report, missing, found_rows = [], 0, set()
        position = 0
        for want in expected:
            row = next((r for r in range(position, ROWS) if _contains(want, lines[r])), None)
            if row is None:
                report.append(f"MISSING {_show(want)}")
                missing += 1
            else:
                report.append(f"GOOD    {_show(want)} (row {row})")
                found_rows.add(row)
                position = row
        if missing:
            raise KernelFailure(
                Verdict.FAIL,
                f"wrong screen: {missing} of {len(expected)} expected lines missing",
                self._hint("expected lines must appear in this order"),
                "\n".join(report) + "\n\n" + self.render(frozenset(found_rows)))

    def expect_absent(self, unwanted: list[str | re.Pattern[str]]) -> None:
        """None of these appears on the screen."""
        __tracebackhide__ = True
        lines = self.lines()
        found = [(want, r) for want in unwanted for r in range(ROWS) if _contains(want, lines[r])]
        if found:
            raise KernelFailure(
                Verdict.FAIL,
                f"wrong screen: {_show(found[0][0])} appears on row {found[0][1]}",
                self._hint("this text should not be on the screen"),
                "\n".join(f"BAD     {_show(w)} (row {r})" for w, r in found)
                + "\n\n" + self.render(frozenset(r for _, r in found)))


def _matches(want: str | re.Pattern[str], got: str) -> bool:
    if isinstance(want, re.Pattern):
        return want.fullmatch(got) is not None
    return want.rstrip() == got


def _contains(want: str | re.Pattern[str], line: str) -> bool:
    if isinstance(want, re.Pattern):
        return want.search(line) is not None
    return want in line


def _show(want: str | re.Pattern[str]) -> str:
    return f"/{want.pattern}/" if isinstance(want, re.Pattern) else repr(want)
