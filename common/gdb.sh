#!/usr/bin/env bash
# Boots a chapter's kernel halted at the first instruction, with QEMU's GDB
# stub listening, and attaches gdb with the kernel's symbols and a
# breakpoint at the C++ entry point that stops there once (at the kernel's
# own entry point, when it has no kernel_main).
# Usage: gdb.sh BUILD_DIRECTORY [PORT]   (PORT: the stub's, 1234 unless given)
# make gdb has checked that gdb is installed (check-deps.sh gdb).
#
# gdb owns the terminal. QEMU runs as a daemon, in a session of its own, so
# Ctrl-C reaches gdb alone, which stops the guest through the stub and
# gives its prompt back: continue, Ctrl-C, bt, continue... as in any gdb
# session. Once QEMU runs, its messages go to qemu.log beside the kernel,
# never into gdb's prompt; the kernel's serial port goes to serial.log
# there. When the kernel ends the machine (a triple fault, a reset, a
# power-off), gdb says only "exited normally": qemu-ending.sh says what
# happened, in gdb's terminal.
set -euo pipefail
build=$1 port=${2:-1234}
elf=$build/kernel.elf

# A kernel that GRUB refuses never runs, and GRUB's error goes to a screen
# that make gdb does not show: gdb would wait for it with no word of why.
# grub-file checks what GRUB checks first: a valid header, within the
# file's first few KiB, of the kind that the command the image's grub.cfg
# loads it with asks for (multiboot2; multiboot in chapter 1). A grub.cfg
# that cannot be read leaves either kind good enough here.
grub_cfg=$(mktemp "${TMPDIR:-/tmp}/gdb-grub-cfg.XXXXXX")
xorriso -osirrox on -indev "$build/kernel.iso" -extract /boot/grub/grub.cfg "$grub_cfg" > /dev/null 2>&1 || true
boot_command=$(sed -n 's/^[[:space:]]*\(multiboot2\{0,1\}\)[[:space:]].*/\1/p' "$grub_cfg" | head -n 1)
rm -f "$grub_cfg"
case $boot_command in
    multiboot2) kinds=(multiboot2) header="Multiboot2 header, which grub.cfg's multiboot2 command needs" ;;
    multiboot) kinds=(multiboot) header="Multiboot header, which grub.cfg's multiboot command needs" ;;
    *) kinds=(multiboot2 multiboot) header="Multiboot header" ;;
esac
accepted=false
for kind in "${kinds[@]}"; do
    if grub-file "--is-x86-$kind" "$elf"; then
        accepted=true
    fi
done
if ! $accepted; then
    echo "make gdb: GRUB would refuse $elf: it has no valid $header." >&2
    echo "  make run shows GRUB's own error, on the kernel's screen." >&2
    exit 1
fi

# Where gdb stops first: kernel_main, which the boot code calls by that
# name. A kernel without it (renamed, or linked without symbols) would get
# gdb's question whether to wait for a shared library to define it, which
# means nothing in a kernel; it is told what is missing instead, and stops
# at its entry point, the first instruction the loader jumps to, from
# where it can be stepped, or a breakpoint set where the student likes.
first_stop=kernel_main
symbols=$(readelf -W --syms "$elf")
if ! grep -q ' kernel_main$' <<< "$symbols"; then
    entry=$(readelf -h "$elf" | sed -n 's/^ *Entry point address: *//p')
    first_stop="*$entry"
    if [ -z "$symbols" ]; then
        echo "make gdb: no symbols in $elf (stripped?), so no kernel_main."
    else
        echo "make gdb: no kernel_main in $elf."
        echo "  The boot code calls it by that name: main.cpp must define it, extern \"C\"."
    fi
    echo "  Stopping at the kernel's entry point, $entry, instead."
fi

# shellcheck source=host/qemu-args.sh
. "$(dirname "$0")/host/qemu-args.sh"
mapfile -t machine < <(qemu_args qemu-machine.args)  # the machine the tests boot
# QEMU's log, with what qemu-ending.sh reads: beside the kernel, for the
# student to read too.
qemu_log=$build/qemu.log
mapfile -t -O ${#machine[@]} machine < <("$(dirname "$0")/qemu-ending.sh" options "$qemu_log")
pid_file=$(mktemp "${TMPDIR:-/tmp}/gdb-qemu-pid.XXXXXX")
qemu=
# QEMU may be gone already (gdb's kill ends it), which is no failure.
trap 'if [ -n "$qemu" ]; then kill "$qemu" 2> /dev/null || true; fi; rm -f "$pid_file"' EXIT

# -daemonize returns once QEMU's stub listens, or once QEMU has failed: on
# a port another session holds, say. Its message is then shown here, and
# gdb never starts, rather than wait for a stub that is not there, or
# attach to another session's QEMU. The stub listens on the loopback
# address alone, where gdb connects: not to the network, and not on an
# address of the port that another program left free (QEMU's "tcp::PORT"
# took IPv6's when IPv4's was taken, while gdb went to IPv4's).
# QEMU writes its messages here until it is a daemon (kept in `starting`),
# then into its log: either may hold why it failed.
stub=127.0.0.1:$port
if ! starting=$("${qemu_within_file_limit[@]}" "${machine[@]}" -cdrom "$build/kernel.iso" -S -gdb "tcp:$stub" \
                    -display none -serial "file:$build/serial.log" -daemonize -pidfile "$pid_file" \
                    < /dev/null 2>&1); then
    said=$(echo "$starting"; grep -s '^qemu-system' "$qemu_log" || true)
    grep . <<< "$said" >&2 || true
    if [[ $said == *"Address already in use"* ]]; then
        echo "make gdb: port $port is taken (another make gdb?); make gdb GDB_PORT=N picks another." >&2
    fi
    exit 1
fi
qemu=$(cat "$pid_file")
if [ -n "$starting" ]; then
    echo "$starting"  # warnings, before gdb's first line
fi

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
# A hardware breakpoint at first_stop: the kernel is not in memory yet when
# gdb attaches, so a software breakpoint's int3 would be overwritten by the
# loader. A temporary one: once reached it has done its work, and in 32-bit
# code (chapter 1, the entry point) continuing from a hardware breakpoint
# would stop at it again.
# When the guest ends, qemu-ending.gdb has gdb's shell run qemu-ending.sh,
# with these arguments.
QEMU_ENDING="$(dirname "$0")/qemu-ending.sh" QEMU_ENDING_BUILD=$build QEMU_ENDING_LOG=$qemu_log
export QEMU_ENDING QEMU_ENDING_BUILD QEMU_ENDING_LOG
gdb -q "$elf" \
    -ex "set architecture i386:x86-64" \
    -x "$(dirname "$0")/qemu-ending.gdb" \
    -ex "target remote $stub" \
    -ex "thbreak $first_stop" \
    -ex "continue"
