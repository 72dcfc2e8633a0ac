#!/usr/bin/env bash
# Boots a chapter's kernel halted at the first instruction, with QEMU's GDB
# stub listening, and attaches gdb with the kernel's symbols and a
# breakpoint at the C++ entry point.
# Usage: gdb.sh BUILD_DIRECTORY [PORT]   (PORT: the stub's, 1234 unless given)
set -euo pipefail
build=$1 port=${2:-1234}
command -v gdb > /dev/null || { echo "missing: gdb; install with: sudo apt-get install gdb" >&2; exit 1; }

# shellcheck source=host/qemu-args.sh
. "$(dirname "$0")/host/qemu-args.sh"
mapfile -t machine < <(qemu_args qemu-machine.args)  # the machine the tests boot
qemu-system-x86_64 "${machine[@]}" -cdrom "$build/kernel.iso" -S -gdb "tcp::$port" \
    -display none -serial "file:$build/serial.log" &
qemu=$!
# QEMU may be gone already (gdb's kill ends it), which is no failure.
trap 'kill $qemu 2> /dev/null || true' EXIT

# qemu-system-x86_64 reports 64-bit registers even while the CPU runs
# 32-bit code (all of chapter 1, the start of the others); gdb must expect
# them, or it refuses chapter 1's 32-bit ELF.
# A hardware breakpoint: the kernel is not in memory yet when gdb attaches,
# so a software breakpoint's int3 would be overwritten by the loader.
gdb -q "$build/kernel.elf" \
    -ex "set architecture i386:x86-64" \
    -ex "target remote localhost:$port" \
    -ex "hbreak kernel_main" \
    -ex "continue"
