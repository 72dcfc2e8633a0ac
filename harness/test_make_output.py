"""What `make` prints (common/quiet.mk): one short line per step of a real
build, `  CXX     04-testing/vga.o`, no line over 120 characters, nothing
at all when everything is up to date; `V=1` prints the full commands; a
compiler error is shown whole; a missing tool is named before anything is
built. And what it rebuilds: an object whose header changed (and a header
no longer included may go), one built by the other compiler (`make CXX=g++`
after `make`; the shared runtime's too), and every kernel when the linker
script changed, every image when its kernel or the GRUB configuration did,
and GRUB's boot images, which make-iso.sh keeps in each folder, when
make-iso.sh did. And what `make run` builds: the kernel it boots alone.

The tests build chapter 04 (sources, test kernels, ISOs; or one object)
from a copy of its directory beside copies of the top Makefile and of
common/, in a temporary folder: the output names files as a student sees
them, and the repository's own build/ and common/ are left alone (the
test of GRUB's boot images only reads chapter 02's kernel there). The make that
runs `make test` passes its flags down in the environment (MAKEFLAGS,
MAKELEVEL); they are cleared, so that the build is the one a student
starts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chapters import CHAPTERS, REPOSITORY
from terminal import commands_but, make_environment
from test_images import file_on_image

CHAPTER = "04-testing"
LONGEST_LINE = 120
STEP = re.compile(r"^  (CXX|AS|LD|ISO) +(\S+)$")


@pytest.fixture
def project(tmp_path) -> Path:
    shutil.copy(REPOSITORY / "Makefile", tmp_path)
    shutil.copytree(REPOSITORY / "common", tmp_path / "common")
    shutil.copytree(CHAPTERS / CHAPTER, tmp_path / "chapters" / CHAPTER)
    return tmp_path


def make(project: Path, *arguments: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """make build CH=04, from the top Makefile, as a student types it."""
    return subprocess.run(["make", "build", f"CH={CHAPTER[:2]}", *arguments], cwd=project,
                          env=environment or make_environment(), capture_output=True, text=True, timeout=600)


def make_object(project: Path, name: str, *arguments: str) -> subprocess.CompletedProcess:
    """The chapter's make, for one object alone (vga.o, common/runtime.o):
    one compile."""
    target = project / "build" / CHAPTER / "obj" / name
    return subprocess.run(["make", "--no-print-directory", "-C", str(project / "chapters" / CHAPTER),
                           str(target), *arguments], env=make_environment(), capture_output=True, text=True,
                          timeout=600)


def make_vga_object(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    return make_object(project, "vga.o", *arguments)


@pytest.mark.slow
def test_a_build_prints_one_short_line_per_step(project):
    result = make(project)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    too_long = [line for line in lines if len(line) > LONGEST_LINE]
    assert not too_long, f"{len(too_long)} lines over {LONGEST_LINE} characters, the first:\n{too_long[0]}"
    not_steps = [line for line in lines if not STEP.match(line)]
    assert not not_steps, "lines that are not steps:\n" + "\n".join(not_steps)
    steps = {(match[1], match[2]) for match in map(STEP.match, lines)}
    assert ("CXX", f"{CHAPTER}/vga.o") in steps
    assert ("AS", f"{CHAPTER}/boot.o") in steps
    assert ("LD", f"{CHAPTER}/unit_tests.elf") in steps
    assert ("ISO", f"{CHAPTER}/kernel.iso") in steps

    again = make(project)
    assert again.returncode == 0 and again.stdout + again.stderr == "", (
        f"make printed this with nothing to do:\n{again.stdout}{again.stderr}")

    # Every kernel depends on the linker script (kernel.mk), which no
    # compiler's list of headers names.
    script = project / "common" / "linker.ld"
    script.write_text(script.read_text() + "\n/* changed */\n")
    relinked = make(project)
    assert relinked.returncode == 0, relinked.stdout + relinked.stderr
    assert f"  LD      {CHAPTER}/kernel.elf" in relinked.stdout.splitlines(), \
        f"linker.ld changed, and make did not link kernel.elf again:\n{relinked.stdout}"
    # The image holds a copy of the kernel: a new kernel makes a new image.
    assert f"  ISO     {CHAPTER}/kernel.iso" in relinked.stdout.splitlines(), \
        "kernel.elf was linked again, and make did not make kernel.iso again: it boots the old kernel:\n" \
        f"{relinked.stdout}"

    # And every image on the GRUB configuration it is made with.
    configuration = project / "common" / "grub.cfg.in"
    configuration.write_text(configuration.read_text() + "\n# changed\n")
    remade = make(project)
    assert remade.returncode == 0, remade.stdout + remade.stderr
    assert f"  ISO     {CHAPTER}/kernel.iso" in remade.stdout.splitlines(), \
        f"grub.cfg.in changed, and make did not make kernel.iso again:\n{remade.stdout}"


def test_a_changed_make_iso_makes_new_grub_images(project, build, tmp_path):
    """make-iso.sh makes GRUB's boot images once per folder and reuses
    them: a change to how they are made must make new ones, or every
    folder built before it keeps booting the old GRUB."""
    make_iso = project / "common" / "make-iso.sh"
    kernel = build.chapter("02").elf()

    def bios_image(name: str) -> bytes:
        image = tmp_path / name
        subprocess.run([str(make_iso), "multiboot2", str(kernel), str(image), name], check=True)
        folder = tmp_path / image.stem
        folder.mkdir()
        return file_on_image(image, "/boot/grub/bios.img", folder).read_bytes()

    before = bios_image("before.iso")
    script, changes = re.subn(r'^bios_modules="(.*)"$', r'bios_modules="\1 echo"', make_iso.read_text(), flags=re.M)
    assert changes == 1, "this test adds a module to make-iso.sh's line bios_modules=\"...\", which it no longer has"
    make_iso.write_text(script)
    reused = bios_image("after.iso") == before
    assert not reused, \
        "make-iso.sh builds GRUB's BIOS core with one more module, and the next image in the same folder has the " \
        "old core: the boot images it reuses must be named after the script that made them"


def test_v1_prints_the_full_commands(project):
    result = make_vga_object(project, "V=1")
    assert result.returncode == 0, result.stdout + result.stderr
    compiles = [line for line in result.stdout.splitlines() if " -ffreestanding " in line and "vga.cpp" in line]
    assert compiles, f"make V=1 shows no compiler command for vga.cpp:\n{result.stdout[:3000]}"
    assert not any(STEP.match(line) for line in result.stdout.splitlines()), "make V=1 prints short steps too"


def test_a_changed_header_rebuilds_the_object_that_includes_it(project):
    # Make knows an object's headers only from the list the compiler writes
    # beside it (-MMD -MP), which kernel.mk includes.
    assert make_vga_object(project).returncode == 0
    header = project / "chapters" / CHAPTER / "vga.h"
    header.write_text(header.read_text() + "\n// changed\n")
    result = make_vga_object(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{CHAPTER}/vga.o" in result.stdout, f"vga.h changed, and make did not rebuild vga.o:\n{result.stdout}"


def test_a_header_no_longer_included_may_be_deleted(project):
    # The list of headers make reads names each one as a target too (-MP):
    # else a deleted header is a prerequisite nothing can make, and the
    # build stops until the student deletes the object's list by hand.
    source = project / "chapters" / CHAPTER / "vga.cpp"
    header = project / "chapters" / CHAPTER / "soon_deleted.h"
    header.write_text("#pragma once\n")
    original = source.read_text()
    source.write_text('#include "soon_deleted.h"\n' + original)
    assert make_vga_object(project).returncode == 0
    source.write_text(original)
    header.unlink()
    result = make_vga_object(project)
    assert result.returncode == 0, f"make stops once a header it saw included is gone:\n{result.stderr}"


@pytest.mark.parametrize("name", ["vga.o", "common/runtime.o"])
def test_another_compiler_rebuilds_the_object(project, name):
    # The compiler and its flags are recorded in build/<chapter>/toolchain.txt,
    # which every object depends on (kernel.mk): else `make CXX=g++` after a
    # clang build finds everything up to date, and the g++ tests boot clang's
    # kernels. The runtime every chapter shares (common/) has a rule of its own.
    assert make_object(project, name, "CXX=clang++").returncode == 0
    result = make_object(project, name, "CXX=g++")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{CHAPTER}/{name}" in result.stdout, \
        f"make CXX=g++ after a clang build did not rebuild {name}:\n{result.stdout}"


def test_a_compiler_error_is_shown_whole(project):
    source = project / "chapters" / CHAPTER / "vga.cpp"
    source.write_text(source.read_text() + "\nint broken_on_purpose = ;\n")
    result = make_vga_object(project)
    assert result.returncode != 0, "a broken vga.cpp built"
    error = re.search(r"^vga\.cpp:\d+:\d+: error: .*$", result.stderr, re.MULTILINE)
    assert error, f"the compiler's error is not in make's output:\n{result.stderr}"
    assert "int broken_on_purpose = ;" in result.stderr, f"the source line is not shown:\n{result.stderr}"


def test_a_missing_tool_is_named_before_anything_is_built(project, tmp_path):
    """nasm hidden from PATH, and an apt-get that cannot install it: make
    build stops at the check, with no step of the build started."""
    path = commands_but(tmp_path / "bin", "nasm", "apt-get")
    (path / "apt-get").write_text("#!/bin/sh\nexit 100\n")
    (path / "apt-get").chmod(0o755)
    result = make(project, environment=make_environment() | {"PATH": str(path)})
    assert result.returncode != 0, "make build succeeded without nasm"
    assert "nasm" in result.stderr, f"the missing nasm is not named:\n{result.stderr}"
    started = [line for line in result.stdout.splitlines() if STEP.match(line)]
    assert not started, "steps of the build ran before the check:\n" + "\n".join(started)


def test_make_run_builds_the_kernel_alone(project):
    """make run and make gdb boot the chapter's kernel: a chapter's first
    make run waited for its test kernels too (seven in chapter 04).
    QEMU is played by a stand-in that quits at once, first on PATH."""
    stand_in = project / "bin" / "qemu-system-x86_64"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    environment = make_environment()
    environment |= {"PATH": f"{stand_in.parent}:{environment['PATH']}", "CI": "true"}
    result = subprocess.run(["make", "run", f"CH={CHAPTER[:2]}"], cwd=project, env=environment,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    built = sorted(path.name for path in (project / "build" / CHAPTER).glob("*.iso"))
    assert built == ["kernel.iso"], f"make run built {built}, not the kernel alone"
