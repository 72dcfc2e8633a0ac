#pragma once

// Besides memory, an x86 CPU has a second address space of 65536 I/O ports,
// reached only with the `in` and `out` instructions. The devices of the
// original PC live there, and so do the ones QEMU adds in the same spirit:
// the serial port, and QEMU's device that ends the emulator, among them.

#include <stdint.h>

class IoPort {
  public:
    constexpr explicit IoPort(uint16_t address) : address_(address) {}

    // Every access is a side effect the device sees (reading the serial
    // port's data register takes the byte out of its queue), so the asm is
    // volatile: the compiler must neither drop nor merge accesses.
    void write(uint8_t value) const { asm volatile("outb %0, %1" : : "a"(value), "Nd"(address_)); }

    [[nodiscard]] uint8_t read() const {
        uint8_t value;
        asm volatile("inb %1, %0" : "=a"(value) : "Nd"(address_));
        return value;
    }

    // A device with several registers is a base port plus an offset.
    [[nodiscard]] constexpr IoPort offset_by(uint16_t offset) const {
        return IoPort(static_cast<uint16_t>(address_ + offset));
    }

  private:
    uint16_t address_;
};
