#!/usr/bin/env bash
# Boots a kernel ISO in QEMU for a person to watch.
# Usage: run.sh KERNEL.iso [bios|uefi]
# With a window system, QEMU opens a window and the serial port prints here.
# Without one (SSH, a container), the VGA text screen is drawn in this
# terminal and the serial port goes to serial.log beside the ISO, named once
# QEMU has quit if the kernel wrote to it; under UEFI, which has no text
# screen to draw, the serial port prints here instead.
# Once QEMU has ended, one line says how: a triple fault, the kernel's exit
# through isa-debug-exit, or a quit.
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
# does, and takes the kernel's screen with it. QEMU's reset log tells the
# two apart: it says "Triple fault" when the CPU resets on one (and dumps
# the registers at every reset, the power-on's included: a few KiB).
# Pausing the machine instead (-action shutdown=pause, as the harness does)
# would keep the screen, but a paused kernel looks like one that hangs,
# with the notice on how to quit drawn over: a line after the end says more.
reset_log=$(mktemp "${TMPDIR:-/tmp}/run-qemu-resets.XXXXXX")
trap 'rm -f "$reset_log"' EXIT
machine+=(-d cpu_reset -D "$reset_log")

# The chapter, for the commands that look closer at a triple fault.
chapter=NN
if [[ $(basename "$(dirname "$iso")") =~ ^([0-9][0-9])- ]]; then
    chapter=${BASH_REMATCH[1]}
fi

# Says in one line how QEMU ended, given its exit status (a triple fault
# adds two lines of hints, each within 80 columns), and ends make run: with
# status 0 when the kernel's own end was explained, for make's "Error 33"
# would only call it a failure.
end_saying_how_qemu_ended() {
    local status=$1
    if grep -q '^Triple fault' "$reset_log"; then
        echo "QEMU stopped: the kernel triple-faulted, and the CPU reset itself."
        echo "  Which exceptions: /usr/bin/python3 -m pytest harness --chapter $chapter"
        echo "  Step up to them:  make gdb CH=$chapter"
        exit 0
    fi
    if [ "$status" -eq 0 ]; then
        echo "QEMU has quit, with no triple fault."
        exit 0
    fi
    # isa-debug-exit turns a value v written to port 0xf4 into the status
    # (v << 1) | 1. A status of 1 is QEMU's own error too, which it has
    # printed itself.
    if [ $((status & 1)) -eq 1 ] && [ "$status" -gt 1 ]; then
        printf 'QEMU stopped: the kernel wrote %#x to port 0xf4 (isa-debug-exit), which ends QEMU with status %d.\n' \
               $((status >> 1)) "$status"
        exit 0
    fi
    exit "$status"
}

status=0
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    qemu-system-x86_64 "${machine[@]}" -serial stdio || status=$?
    end_saying_how_qemu_ended $status
fi

if [ "$firmware" = uefi ]; then
    echo "No window system, and no text screen under UEFI: serial output follows. Quit with Ctrl-C."
    qemu-system-x86_64 "${machine[@]}" -display none -serial stdio || status=$?
    end_saying_how_qemu_ended $status
fi

echo "No window system: showing the screen here."
echo "Quit with Esc then 2 (QEMU monitor), then type: quit"
# The screen is about to be drawn over these lines: at a terminal, they stay
# until the reader has read them (not in CI, where nobody would press Enter).
if [ -t 0 ] && [ "${CI:-}" != true ]; then
    read -r -p "Press Enter to start. "
fi
qemu-system-x86_64 "${machine[@]}" -display curses -serial "file:$serial_log" || status=$?
# Only chapter 4 on writes to the serial port under a BIOS: the log is
# worth a mention only when there is something in it.
if [ -s "$serial_log" ]; then
    echo "The kernel's serial output is in $serial_log"
fi
end_saying_how_qemu_ended $status
