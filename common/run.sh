#!/usr/bin/env bash
# Boots a kernel ISO in QEMU for a person to watch.
# Usage: run.sh KERNEL.iso [bios|uefi]
# With a window system, QEMU opens a window and the serial port prints here.
# Without one (SSH, a container), the VGA text screen is drawn in this
# terminal and the serial port goes to serial.log beside the ISO, named once
# QEMU has quit if the kernel wrote to it; under UEFI, which has no text
# screen to draw, the serial port prints here instead.
# Once QEMU has ended, one line says how: a triple fault, a reset or a
# power-off, the kernel's exit through isa-debug-exit, or a quit
# (common/qemu-ending.sh).
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
trap 'rm -f "$ending_log"' EXIT
mapfile -t -O ${#machine[@]} machine < <("$(dirname "$0")/qemu-ending.sh" options "$ending_log")

# Says in one line how QEMU ended (a triple fault or a reset adds hints)
# and ends make run: with status 0 when the kernel's own end was explained,
# for make's "Error 33" would only call it a failure.
end_saying_how_qemu_ended() {
    local exit_status=0
    "$(dirname "$0")/qemu-ending.sh" say "$(dirname "$iso")" "$ending_log" "$1" || exit_status=$?
    exit $exit_status
}

# Runs QEMU with the serial port printed here and OPTIONS, and ends. Ctrl-C
# quits it: QEMU exits with status 0 and logs nothing of the signal, but
# this script gets it too, once QEMU has exited.
run_with_the_serial_port_here() {
    local status=0
    trap 'status=signal' INT
    qemu-system-x86_64 "${machine[@]}" "$@" -serial stdio || status=$?
    end_saying_how_qemu_ended $status
}

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    run_with_the_serial_port_here
fi

if [ "$firmware" = uefi ]; then
    echo "No window system, and no text screen under UEFI: serial output follows. Quit with Ctrl-C."
    run_with_the_serial_port_here -display none
fi

echo "No window system: showing the screen here."
echo "Quit with Esc then 2 (QEMU monitor), then type: quit"
# The screen is about to be drawn over these lines: at a terminal, they stay
# until the reader has read them (not in CI, where nobody would press Enter).
if [ -t 0 ] && [ "${CI:-}" != true ]; then
    read -r -p "Press Enter to start. "
fi
status=0
qemu-system-x86_64 "${machine[@]}" -display curses -serial "file:$serial_log" || status=$?
# Only chapter 4 on writes to the serial port under a BIOS: the log is
# worth a mention only when there is something in it.
if [ -s "$serial_log" ]; then
    echo "The kernel's serial output is in $serial_log"
fi
end_saying_how_qemu_ended $status
