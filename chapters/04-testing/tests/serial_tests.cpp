// Unit tests of the serial console. The UART's loopback mode feeds what
// the kernel transmits back to its own receiver, so a test can read the
// bytes that would have gone out on the wire.

#include <stdint.h>

#include "kernel_test.h"
#include "serial_console.h"

namespace {

// The receive FIFO holds 16 bytes; a test sends no more than that.
constexpr size_t kFifoSize = 16;

struct Received {
    char text[kFifoSize + 1] = {};
};

// What comes back when `send` writes to a console on the looped-back port.
template <typename Send>
[[nodiscard]] Received loop_back(Send send) {
    LockedSerialConsole locked;  // nobody else may print meanwhile
    SerialPort& port = locked->port();
    SerialConsole console{port};  // without the runner's line prefix
    port.set_loopback(true);
    send(console);
    Received received;
    size_t count = 0;
    uint8_t byte;
    while (count < kFifoSize && port.try_read_byte(byte)) {
        received.text[count++] = static_cast<char>(byte);
    }
    port.set_loopback(false);
    return received;
}

}  // namespace

KERNEL_TEST(serial_sends_formatted_text) {
    const Received received =
        loop_back([](SerialConsole& console) { format_to(console, "{}|{:x}|{}", -42, 255, true); });
    EXPECT_EQ(received.text, "-42|0xff|true");
}

KERNEL_TEST(serial_sends_newline_as_crlf) {
    const Received received = loop_back([](SerialConsole& console) { format_to(console, "a\nb"); });
    EXPECT_EQ(received.text, "a\r\nb");
}

// Empty lines too: under the runner's "# " all a test prints, blank lines
// included, must reach the harness as KTAP diagnostics.
KERNEL_TEST(serial_puts_the_prefix_before_each_line) {
    const Received received = loop_back([](SerialConsole& console) {
        console.set_line_prefix("> ");
        format_to(console, "1\n\n2\n");
    });
    EXPECT_EQ(received.text, "> 1\r\n> \r\n> 2\r\n");
}

// A panic starts a new line unless the console is at the start of one, so
// the console must know that a line has begun, with no prefix as well.
KERNEL_TEST(serial_knows_when_a_line_has_begun) {
    bool at_line_start = true;
    const Received received = loop_back([&](SerialConsole& console) {
        format_to(console, "ab");
        // Checked outside: an EXPECT here would wait for the lock loop_back holds.
        at_line_start = console.at_line_start();
    });
    EXPECT_EQ(received.text, "ab");
    EXPECT_FALSE(at_line_start);
}
