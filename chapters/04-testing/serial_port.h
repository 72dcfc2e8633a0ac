#pragma once

// A 16550 UART, the serial port of every PC since the 1980s and of QEMU. A
// kernel likes it for the same reasons a test harness does: it works before
// anything else is set up, it needs no driver stack, and whatever the
// kernel sends arrives as plain text at the other end of the cable, or in
// QEMU at the host's terminal, log file or test program.

#include <stdint.h>

#include "io_port.h"

class SerialPort {
  public:
    constexpr explicit SerialPort(IoPort base) : base_(base) {}

    // Sets 115200 baud, 8 data bits, no parity, one stop bit, FIFOs on and
    // interrupts off (this kernel polls). Returns false when no UART
    // answers at the port: then writes are dropped instead of waited for.
    [[nodiscard]] bool initialize();

    // Sends one byte once the transmitter can take it. A reader at the
    // other end that stops for a while (flow control, a busy host) only
    // makes this wait: no byte is lost. A UART that takes no byte for
    // seconds is stuck, and is given up for good, so that it costs one such
    // wait and later output is dropped instead of hanging the kernel.
    void write_byte(uint8_t byte);

    // Takes the next received byte, if one has arrived.
    [[nodiscard]] bool try_read_byte(uint8_t& byte) const;

    // In loopback mode the UART feeds what it transmits straight back to
    // its receiver, and nothing leaves the chip: a self-test.
    void set_loopback(bool enabled) const;

  private:
    IoPort base_;
    bool present_ = false;
};

// The first serial port's registers start at 0x3f8 on every PC.
inline constexpr IoPort kCom1{0x3f8};
