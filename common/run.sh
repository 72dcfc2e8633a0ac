#!/usr/bin/env bash
# Boots a kernel ISO in QEMU for a person to watch.
# With a window system, QEMU opens a window and the serial port prints here.
# Without one (SSH, a container), the VGA text screen is drawn in this
# terminal and the serial port goes to a log beside the ISO.
set -euo pipefail
iso=$1
serial_log="$(dirname "$iso")/serial.log"

machine=(
    -accel tcg                                      # the emulator the tests use
    -cdrom "$iso"
    -no-reboot                                      # stop at a triple fault
    -device isa-debug-exit,iobase=0xf4,iosize=0x04  # lets a kernel end QEMU
)

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    exec qemu-system-x86_64 "${machine[@]}" -serial stdio
fi

echo "No window system: showing the screen here. Serial output: $serial_log"
echo "Quit with Esc then 2 (QEMU monitor), then type: quit"
sleep 2
exec qemu-system-x86_64 "${machine[@]}" -display curses -serial "file:$serial_log"
