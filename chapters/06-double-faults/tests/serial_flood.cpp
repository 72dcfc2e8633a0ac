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

// 300 lines of 74 bytes: 22 KB, five times the 4 KiB the harness lets the
// host hold for it while it does not read.
constexpr uint32_t kLines = 300;
constexpr const char kPayload[] = "the quick brown fox jumps over the lazy dog 0123456789abcdef";

}  // namespace

KERNEL_TEST(serial_flood_of_numbered_lines) {
    for (uint32_t line = 0; line < kLines; ++line) {
        serial_println("flood {:04} {}", line, kPayload);
    }
}
