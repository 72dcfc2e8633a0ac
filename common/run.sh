#!/usr/bin/env bash
# Boots a kernel ISO in QEMU for a person to watch.
# Usage: run.sh KERNEL.iso [bios|uefi]
# With a window system, QEMU opens a window and the serial port prints here.
# Without one (SSH, a container), the VGA text screen is drawn in this
# terminal and the serial port goes to serial.log beside the ISO, named once
# QEMU has quit if the kernel wrote to it; under UEFI, which has no text
# screen to draw, the serial port prints here instead.
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

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    exec qemu-system-x86_64 "${machine[@]}" -serial stdio
fi

if [ "$firmware" = uefi ]; then
    echo "No window system, and no text screen under UEFI: serial output follows. Quit with Ctrl-C."
    exec qemu-system-x86_64 "${machine[@]}" -display none -serial stdio
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
exit $status
