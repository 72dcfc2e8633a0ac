#!/usr/bin/env bash
# Boots a chapter's kernel halted at the first instruction, with QEMU's GDB
# stub listening, and attaches gdb with the kernel's symbols and a
# breakpoint at the C++ entry point that stops there once.
# Usage: gdb.sh BUILD_DIRECTORY [PORT]   (PORT: the stub's, 1234 unless given)
# make gdb has checked that gdb is installed (check-deps.sh gdb).
#
# gdb owns the terminal. QEMU runs in a session of its own, so Ctrl-C
# reaches gdb alone, which stops the guest through the stub and gives its
# prompt back: continue, Ctrl-C, bt, continue... as in any gdb session.
# QEMU's own messages go to qemu.log beside the kernel, never into gdb's
# prompt; the kernel's serial port goes to serial.log there. When the
# kernel ends the machine (a triple fault, a reset, a power-off), gdb says
# only "exited normally": qemu-ending.sh says what happened, in gdb's
# terminal.
set -euo pipefail
build=$1 port=${2:-1234}

# shellcheck source=host/qemu-args.sh
. "$(dirname "$0")/host/qemu-args.sh"
mapfile -t machine < <(qemu_args qemu-machine.args)  # the machine the tests boot
ending_log=$(mktemp "${TMPDIR:-/tmp}/gdb-qemu-ending.XXXXXX")
mapfile -t -O ${#machine[@]} machine < <("$(dirname "$0")/qemu-ending.sh" options "$ending_log")
setsid qemu-system-x86_64 "${machine[@]}" -cdrom "$build/kernel.iso" -S -gdb "tcp::$port" \
    -display none -serial "file:$build/serial.log" < /dev/null > "$build/qemu.log" 2>&1 &
qemu=$!
# QEMU may be gone already (gdb's kill ends it), which is no failure.
trap 'kill $qemu 2> /dev/null || true; rm -f "$ending_log"' EXIT

# In a terminal, gdb runs as a job of its own (set -m), which the terminal
# makes its foreground: Ctrl-C then interrupts gdb's wait for the guest,
# not this script or the make that started it, and quitting gdb ends
# make gdb normally.
if [ -t 0 ]; then
    set -m
fi

# qemu-system-x86_64 reports 64-bit registers even while the CPU runs
# 32-bit code (all of chapter 1, the start of the others); gdb must expect
# them, or it refuses chapter 1's 32-bit ELF.
# A hardware breakpoint: the kernel is not in memory yet when gdb attaches,
# so a software breakpoint's int3 would be overwritten by the loader. A
# temporary one: once in kernel_main it has done its work, and in chapter 1
# (32-bit code) continuing from a hardware breakpoint would stop at it again.
# gdb retries the connection while QEMU starts (set tcp auto-retry, on by
# default).
# When the guest ends, gdb's Python has gdb's shell run qemu-ending.sh,
# which takes its arguments from the environment (single quotes: that
# shell expands them, not this one), whatever characters the paths hold.
QEMU_ENDING="$(dirname "$0")/qemu-ending.sh" QEMU_ENDING_BUILD=$build QEMU_ENDING_LOG=$ending_log
export QEMU_ENDING QEMU_ENDING_BUILD QEMU_ENDING_LOG
# shellcheck disable=SC2016
say_how_the_guest_ended='shell "$QEMU_ENDING" say "$QEMU_ENDING_BUILD" "$QEMU_ENDING_LOG"'
gdb -q "$build/kernel.elf" \
    -ex "set architecture i386:x86-64" \
    -ex "python gdb.events.exited.connect(lambda event: gdb.execute('$say_how_the_guest_ended'))" \
    -ex "target remote localhost:$port" \
    -ex "thbreak kernel_main" \
    -ex "continue"
