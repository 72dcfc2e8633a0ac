#!/usr/bin/env bash
# Boots a kernel ISO in QEMU for a person to watch.
# Usage: run.sh KERNEL.iso [bios|uefi]
# With a window system, QEMU opens a window and the serial port prints here.
# Without one (SSH, a container), the VGA text screen is drawn in this
# terminal and the serial port goes to serial.log beside the ISO, named once
# QEMU has quit if the kernel wrote to it; under UEFI, which has no text
# screen to draw, the serial port prints here instead.
# Once QEMU has ended, one line says how: a triple fault, a reset or a
# power-off, the kernel's exit through isa-debug-exit, a quit, or a signal
# from another program (common/qemu-ending.sh).
set -euo pipefail
iso=$1 firmware=${2:-bios}
serial_log="$(dirname "$iso")/serial.log"

# shellcheck source=host/qemu-args.sh
. "$(dirname "$0")/host/qemu-args.sh"
# The machine the tests boot (common/host/qemu-machine.args).
mapfile -t machine < <(qemu_args qemu-machine.args)
machine+=(-cdrom "$iso")
case $firmware in
    bios) ;;
    uefi) mapfile -t -O ${#machine[@]} machine < <(qemu_args qemu-uefi.args) ;;
    *) echo "run.sh: firmware must be bios or uefi, not '$firmware'" >&2; exit 2 ;;
esac

# A triple fault ends QEMU at once (-no-reboot) with status 0, as a quit
# does, and takes the kernel's screen with it; so does a reset the kernel
# asks for. QEMU's log tells them apart (qemu-ending.sh).
# Pausing the machine instead (-action shutdown=pause, as the harness does)
# would keep the screen, but a paused kernel looks like one that hangs,
# with the notice on how to quit drawn over: a line after the end says more.
ending_log=$(mktemp "${TMPDIR:-/tmp}/run-qemu-ending.XXXXXX")
# QEMU's messages, shown once it has ended (one written while it draws the
# screen here would vanish with the screen), then added to its log: among
# them, who sent the signal that stopped it, which qemu-ending.sh says in
# words of its own.
messages=$(mktemp "${TMPDIR:-/tmp}/run-qemu-messages.XXXXXX")
# Where bash reports that a signal killed QEMU (see run_qemu).
killed=$(mktemp "${TMPDIR:-/tmp}/run-qemu-killed.XXXXXX")
trap 'rm -f "$ending_log" "$messages" "$killed"' EXIT
mapfile -t -O ${#machine[@]} machine < <("$(dirname "$0")/qemu-ending.sh" options "$ending_log")

# Runs QEMU with OPTIONS and sets qemu_ending to how it ended, for
# qemu-ending.sh: its exit status, `interrupted` when Ctrl-C here quit it
# (QEMU then exits with status 0, and this script gets the signal too), or
# `killed-N` when signal N killed it. That last one QEMU cannot say, and
# its status, 128 + N, is one that isa-debug-exit gives too (SIGKILL's 137
# is the kernel's 0x44); but bash reports such a death on its standard
# error ("Killed"), which goes to a file of its own here. QEMU, killed,
# left the terminal as it had set it, which is put back.
run_qemu() {
    local status=0 terminal_settings=
    if [ -t 0 ]; then
        terminal_settings=$(stty -g)
    fi
    trap 'status=interrupted' INT
    { "${qemu_within_file_limit[@]}" "${machine[@]}" "$@" 2> "$messages" || status=$?; } 2> "$killed"
    trap - INT
    if [ -s "$killed" ]; then
        status=killed-$((status - 128))
        if [ -n "$terminal_settings" ]; then
            stty "$terminal_settings"
        fi
    fi
    grep -v 'terminating on signal' "$messages" >&2 || true
    cat "$messages" >> "$ending_log"
    qemu_ending=$status
}

# Says in one line how QEMU ended (a triple fault or a reset adds hints)
# and ends make run: with status 0 when the ending was explained, for
# make's "Error 33" would only call it a failure.
end_saying_how_qemu_ended() {
    local exit_status=0
    "$(dirname "$0")/qemu-ending.sh" say "$(dirname "$iso")" "$ending_log" "$qemu_ending" || exit_status=$?
    exit $exit_status
}

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    run_qemu -serial stdio
    end_saying_how_qemu_ended
fi

if [ "$firmware" = uefi ]; then
    echo "No window system, and no text screen under UEFI: serial output follows. Quit with Ctrl-C."
    run_qemu -display none -serial stdio
    end_saying_how_qemu_ended
fi

echo "No window system: showing the screen here."
echo "Quit with Esc then 2 (QEMU monitor), then type: quit"
# The screen is about to be drawn over these lines: at a terminal, they stay
# until the reader has read them (not in CI, where nobody would press Enter).
if [ -t 0 ] && [ "${CI:-}" != true ]; then
    read -r -p "Press Enter to start. "
fi
run_qemu -display curses -serial "file:$serial_log"
# A QEMU killed in the middle of its screen could not leave it: this does.
if [[ $qemu_ending == killed-* ]] && [ -t 1 ]; then
    tput rmcup || true
    tput cnorm || true
fi
# Only chapter 4 on writes to the serial port under a BIOS: the log is
# worth a mention only when there is something in it.
if [ -s "$serial_log" ]; then
    echo "The kernel's serial output is in $serial_log"
    if [ "$(stat -c %s "$serial_log")" -ge "$SERIAL_LOG_LIMIT" ]; then
        echo "  It stops at $(numfmt --to=iec-i --suffix=B "$SERIAL_LOG_LIMIT"), make run's limit: the kernel printed on," \
             "and the rest was lost."
    fi
fi
end_saying_how_qemu_ended
