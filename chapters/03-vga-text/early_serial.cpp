#include "early_serial.h"

#include <stdint.h>

#include "io_port.h"

namespace {

constexpr IoPort kCom1{0x3f8};
constexpr IoPort kTransmitHolding = kCom1;          // write: the next byte to send
constexpr IoPort kLineStatus = kCom1.offset_by(5);  // read: the UART's state
constexpr uint8_t kTransmitHoldingEmpty = 1 << 5;   // line status: it can take a byte

// At 9600 baud a byte takes about a millisecond on the wire, and a port
// read about a microsecond: this many reads wait for a slow UART, and give
// up on an absent or stuck one after a tenth of a second, losing the text
// instead of hanging the kernel.
constexpr uint32_t kMaxStatusReads = 100000;

void write_byte(uint8_t byte) {
    for (uint32_t reads = 0; reads < kMaxStatusReads; ++reads) {
        if ((kLineStatus.read() & kTransmitHoldingEmpty) != 0) {
            kTransmitHolding.write(byte);
            return;
        }
    }
}

}  // namespace

void write_serial_line(const char* text) {
    for (; *text != '\0'; ++text) {
        write_byte(static_cast<uint8_t>(*text));
    }
    // A terminal's line ends with both: back to the start, then down.
    write_byte('\r');
    write_byte('\n');
}
