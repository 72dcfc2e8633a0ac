// A test kernel of its own: a flood of numbered lines on serial, more than
// the host's buffers hold, for the harness to read under back-pressure (it
// stops reading for a while). Then the UART's transmit holding register
// stays full until the host takes its byte, and a byte written before the
// UART says it has room replaces the waiting one: lost. Every line must
// arrive whole and in order.

#include <stdint.h>

#include "kernel_test.h"
#include "serial_console.h"

namespace {

// 3000 lines of about 80 bytes: 240 KB, well over a pseudo-terminal's
// buffer of some 64 KB.
constexpr uint32_t kLines = 3000;
constexpr const char kPayload[] = "the quick brown fox jumps over the lazy dog 0123456789abcdef";

}  // namespace

KERNEL_TEST(serial_flood_of_numbered_lines) {
    for (uint32_t line = 0; line < kLines; ++line) {
        serial_println("flood {:04} {}", line, kPayload);
    }
}
