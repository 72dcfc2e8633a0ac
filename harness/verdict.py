"""One classified verdict per boot, and the failure that carries it.

A student whose kernel fails wants to know, in one line, *what kind* of
failure it was before reading any log: did it hang, triple-fault, panic,
print the wrong thing, or not build at all? Every boot the harness runs ends
in exactly one of these verdicts, each with a hint of where to look next.
"""

from __future__ import annotations

import enum


class Verdict(enum.Enum):
    PASS = "the kernel did what the test expected"
    FAIL = "the kernel ran but did something else than expected"
    PANIC = "the kernel panicked"
    TRIPLE_FAULT = "the CPU reset after an exception it could not deliver"
    HANG = "the kernel neither finished nor failed within the timeout"
    NO_OUTPUT = "the kernel printed nothing at all"
    BOOT_REJECTED = "the boot loader refused to start the kernel"
    BUILD_FAILED = "the kernel did not build"
    TOOL_MISSING = "a tool the build or the boot needs is not installed"


class KernelFailure(AssertionError):
    """A test failure with its verdict: the first line of the message says
    what happened, the second what to look at; details follow.

    It is an AssertionError so that pytest reports it as a test failure (not
    as an error in the harness) and shows the message as it is.
    """

    def __init__(self, verdict: Verdict, summary: str, hint: str = "", details: str = ""):
        self.verdict = verdict
        self.summary = summary
        self.hint = hint
        self.details = details
        super().__init__(self.describe())

    def describe(self) -> str:
        lines = [f"{self.verdict.name}: {self.summary}"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        if self.details:
            lines.append("")
            lines.append(self.details.rstrip("\n"))
        return "\n".join(lines)
