#include "serial_port.h"

#include "time_stamp_counter.h"

namespace {

// Offsets of the UART's registers from its base port. With the divisor
// latch access bit set in the line control register, offsets 0 and 1 reach
// the two halves of the baud rate divisor instead of data and interrupts.
enum class Register : uint16_t {
    data = 0,
    interrupt_enable = 1,
    divisor_low = 0,
    divisor_high = 1,
    fifo_control = 2,
    line_control = 3,
    modem_control = 4,
    line_status = 5,
};

// Line control: 8 data bits, no parity, one stop bit ("8N1"), and the bit
// that turns offsets 0 and 1 into the divisor latch.
constexpr uint8_t kEightDataBitsNoParityOneStop = 0x03;
constexpr uint8_t kDivisorLatchAccess = 0x80;

// The UART divides 115200 by the divisor to get its baud rate.
constexpr uint16_t kDivisorFor115200Baud = 1;

// FIFO control: enable the FIFOs, empty both, raise the receive interrupt
// at 14 bytes (unused here, as interrupts are off).
constexpr uint8_t kEnableAndClearFifos = 0xc7;

// Modem control: Data Terminal Ready and Request To Send tell the other end
// that we are there; loopback connects the transmitter to the receiver.
constexpr uint8_t kDataTerminalReadyRequestToSend = 0x03;
constexpr uint8_t kLoopback = 0x10;

// Line status: a received byte is waiting; the transmit holding register
// can take another byte.
constexpr uint8_t kDataReady = 0x01;
constexpr uint8_t kTransmitHoldingEmpty = 0x20;

// How long to wait for the loopback probe's byte. At 115200 baud a byte
// takes 87 microseconds on the wire, and a port read about a microsecond on
// real hardware: this many polls is ample for a working UART and gives up
// soon on a broken one.
constexpr int kPollLimit = 100'000;

// How long to wait for room in the transmitter before calling the UART
// stuck, in time-stamp counter ticks: 2^34 ticks are 3.4 to 17 s at 1 to
// 5 GHz. A reader at the other end that pauses for a moment must not cost
// a byte. A count of polls bounds no time: 10 million polls of a full
// transmitter took 0.55 s under QEMU, and a harness that paused its
// reading for half a second on a busy machine lost the rest of the output.
constexpr uint64_t kStuckTransmitterTicks = uint64_t{1} << 34;

constexpr uint8_t kLoopbackProbe = 0xae;

IoPort register_of(IoPort base, Register reg) {
    return base.offset_by(static_cast<uint16_t>(reg));
}

}  // namespace

bool SerialPort::initialize() {
    register_of(base_, Register::interrupt_enable).write(0x00);

    register_of(base_, Register::line_control).write(kDivisorLatchAccess);
    register_of(base_, Register::divisor_low).write(kDivisorFor115200Baud & 0xff);
    register_of(base_, Register::divisor_high).write(kDivisorFor115200Baud >> 8);
    register_of(base_, Register::line_control).write(kEightDataBitsNoParityOneStop);

    register_of(base_, Register::fifo_control).write(kEnableAndClearFifos);

    // Where no UART is, the bus reads 0xff. Looping a byte through the chip
    // tells a real one from nothing at all.
    set_loopback(true);
    register_of(base_, Register::data).write(kLoopbackProbe);
    uint8_t echo = 0;
    for (int poll = 0; poll < kPollLimit && !try_read_byte(echo); ++poll) {
    }
    present_ = echo == kLoopbackProbe;
    set_loopback(false);
    return present_;
}

void SerialPort::write_byte(uint8_t byte) {
    if (!present_) {
        return;
    }
    const IoPort line_status = register_of(base_, Register::line_status);
    const uint64_t wait_start = read_time_stamp_counter();
    while (!(line_status.read() & kTransmitHoldingEmpty)) {
        if (read_time_stamp_counter() - wait_start > kStuckTransmitterTicks) {
            present_ = false;
            return;
        }
    }
    register_of(base_, Register::data).write(byte);
}

bool SerialPort::try_read_byte(uint8_t& byte) const {
    if (!(register_of(base_, Register::line_status).read() & kDataReady)) {
        return false;
    }
    byte = register_of(base_, Register::data).read();
    return true;
}

void SerialPort::set_loopback(bool enabled) const {
    register_of(base_, Register::modem_control)
        .write(kDataTerminalReadyRequestToSend | (enabled ? kLoopback : 0));
}
