#pragma once

// A line of text on the first serial port (COM1), for a kernel that has
// nothing else to say it with: no screen, and no serial driver yet.
//
// It uses the UART as the firmware left it. A UEFI firmware that shows its
// console on COM1, as QEMU's OVMF does, has set it to a speed and a frame
// format the other end reads; that is exactly the case this is for (see
// main.cpp). Chapter 4 brings a driver that sets the UART up itself.
void write_serial_line(const char* text);
