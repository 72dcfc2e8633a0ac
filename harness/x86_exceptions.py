"""The x86 exception vectors as the manuals name them: one table for the
whole harness, written out here independently of the kernels, so that a
kernel's own table is checked against it (exception_reports.py) and QEMU's
log is told in the same words (interrupt_log.py).
"""

from __future__ import annotations

# Intel SDM vol. 3, table 6-1; 28-30 from the AMD64 APM vol. 2, table 8-1.
# None: the SDM gives the vector no mnemonic.
NAMES: dict[int, tuple[str | None, str]] = {
    0: ("#DE", "Divide Error"), 1: ("#DB", "Debug"), 2: (None, "Non-Maskable Interrupt"),
    3: ("#BP", "Breakpoint"), 4: ("#OF", "Overflow"), 5: ("#BR", "BOUND Range Exceeded"),
    6: ("#UD", "Invalid Opcode"), 7: ("#NM", "Device Not Available"), 8: ("#DF", "Double Fault"),
    9: (None, "Coprocessor Segment Overrun (reserved)"), 10: ("#TS", "Invalid TSS"),
    11: ("#NP", "Segment Not Present"), 12: ("#SS", "Stack-Segment Fault"),
    13: ("#GP", "General Protection"), 14: ("#PF", "Page Fault"), 15: (None, "Reserved"),
    16: ("#MF", "x87 Floating-Point Error"), 17: ("#AC", "Alignment Check"),
    18: ("#MC", "Machine Check"), 19: ("#XM", "SIMD Floating-Point Exception"),
    20: ("#VE", "Virtualization Exception"), 21: ("#CP", "Control Protection"),
    **{vector: (None, "Reserved") for vector in range(22, 28)},
    28: ("#HV", "Hypervisor Injection Exception (AMD)"),
    29: ("#VC", "VMM Communication Exception (AMD)"), 30: ("#SX", "Security Exception (AMD)"),
    31: (None, "Reserved"),
}

BREAKPOINT = 3
DOUBLE_FAULT = 8
PAGE_FAULT = 14
# The vectors for which the CPU pushes an error code (when it raises them
# itself: `int N` never pushes one), and those whose error code is a
# segment selector.
ERROR_CODE_VECTORS = {8, 10, 11, 12, 13, 14, 17, 21, 29, 30}
SELECTOR_ERROR_CODE_VECTORS = {10, 11, 12, 13}


def mnemonic(vector: int) -> str:
    """`#PF`; `vector 2` where the manual gives none."""
    short = NAMES.get(vector, (None, ""))[0]
    return short or f"vector {vector}"


def describe(vector: int) -> str:
    """`#PF (page fault)`, `#TS (invalid TSS)`: the mnemonic and the name in
    running text (acronyms kept)."""
    name = NAMES.get(vector, (None, "not an exception"))[1]
    words = " ".join(word if word.isupper() or word.startswith("(") else word.lower() for word in name.split())
    return f"{mnemonic(vector)} ({words})"
