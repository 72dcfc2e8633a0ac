"""The layout common/linker.ld gives every kernel of every chapter, the
test kernels too, read back from their ELF files (kernel_layout.py says
what it promises). test_toolchains.py checks the same of the kernels the
other compiler and its linker build.
"""

import pytest

from chapters import all_chapters
from elf import ElfFile
from kernel_layout import layout_problems


@pytest.mark.parametrize("directory", all_chapters())
def test_every_kernel_is_laid_out_as_the_linker_script_promises(build, directory):
    chapter = build.chapter(directory)
    problems = [f"{kernel}.elf: {problem}" for kernel in chapter.kernels()
                for problem in layout_problems(ElfFile(chapter.elf(kernel)))]
    assert not problems, "\n".join(problems)
