"""Takes each chapter's screen for the book: `make screenshots`.

Boots each chapter's kernel as `make run` does (its GRUB ISO, built by
`make`), waits until the kernel has nothing left to do (the CPU halted in
halt_forever: every chapter's kernel ends so), and saves what QEMU's screen
shows as book/images/<chapter>.png. The pictures are the real kernels'
screens, so a reader sees exactly what `make run` will show.

Chapter 1's kernel writes nothing on the screen; its picture is what the
reader sees all the same: GRUB's last line before it jumped to the kernel.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The harness's modules, one folder up, import each other by plain name.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chapters import BUILD, REPOSITORY, all_chapters  # noqa: E402
from machine import Machine  # noqa: E402
from verdict import KernelFailure  # noqa: E402

IMAGES = REPOSITORY / "book" / "images"


def take_screenshot(chapter: str) -> Path:
    png = IMAGES / f"{chapter}.png"
    with Machine(BUILD / chapter / "kernel.iso") as machine:
        machine.wait_until_halted_in("halt_forever")
        machine.screenshot(png)
    return png


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    for chapter in all_chapters():
        try:
            png = take_screenshot(chapter)
        except KernelFailure as failure:
            print(f"{chapter}: no screenshot: {failure}", file=sys.stderr)
            return 1
        print(png.relative_to(REPOSITORY))
    return 0


if __name__ == "__main__":
    sys.exit(main())
