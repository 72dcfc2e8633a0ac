#pragma once

// Ends QEMU from inside the guest, with an exit status the host can read:
// how a test kernel reports its verdict to the program that started it.
//
// QEMU's isa-debug-exit device (-device isa-debug-exit,iobase=0xf4,
// iosize=0x04) makes QEMU exit with status (value << 1) | 1 when the guest
// writes a value to its port. The status is therefore always odd, so a
// guest can never report 0; and QEMU itself exits with 0 after a triple
// fault under -no-reboot, and with 1 or 2 on its own errors. The two codes
// below give 33 and 35, which nothing else produces.

#include <stdint.h>

enum class QemuExitCode : uint8_t {
    success = 0x10,  // QEMU exits with status 33
    failure = 0x11,  // QEMU exits with status 35
};

// Does not return under QEMU with the device. Elsewhere (real hardware, or
// QEMU started without the device) the write goes nowhere and the CPU
// halts, which is the best a kernel with nothing left to do can do.
[[noreturn]] void qemu_exit(QemuExitCode code);
