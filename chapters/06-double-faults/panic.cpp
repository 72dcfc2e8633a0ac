#include "panic.h"

#include "halt.h"
#include "print.h"
#include "serial_console.h"

namespace {

constexpr ColorCode kPanicColor{Color::White, Color::Red};

bool panicking = false;

void (*panic_ending)() = nullptr;

// The screen is for the person at the machine; the serial port reaches a
// log, a terminal elsewhere, or a test harness, and still works when the
// screen does not. A panic message goes to both.
class ScreenAndSerial final : public OutputSink {
  public:
    void put_char(char character) override {
        screen_for_panic().put_char(character);
        serial_console_for_panic().put_char(character);
    }
};
constinit ScreenAndSerial panic_output;

}  // namespace

OutputSink& begin_panic(const char* file, uint32_t line) {
    // Nothing may run between here and the halt: an interrupt handler that
    // printed would write into the middle of the message.
    asm volatile("cli");

    // A panic raised while a panic prints (by a fault in the printing, say)
    // would otherwise start over and over. Halt instead, and leave the
    // first message as far as it got.
    if (__atomic_test_and_set(&panicking, __ATOMIC_ACQUIRE)) {
        halt_forever();
    }

    VgaWriter& screen = screen_for_panic();
    if (!screen.at_line_start()) {
        screen.put_char('\n');
    }
    screen.set_color(kPanicColor);
    SerialConsole& serial = serial_console_for_panic();
    if (!serial.at_line_start()) {
        serial.put_char('\n');
    }
    format_to(panic_output, "KERNEL PANIC at {}:{}: ", file, line);
    return panic_output;
}

void finish_panic() {
    VgaWriter& screen = screen_for_panic();
    // The normal colour again before the newline: if it scrolls, the new
    // bottom row is blanked in the current colour, and a red row under the
    // message would look like part of it.
    screen.set_color(kDefaultTextColor);
    panic_output.put_char('\n');
    if (panic_ending != nullptr) {
        panic_ending();
    }
    halt_forever();
}

void set_panic_ending(void (*ending)()) {
    panic_ending = ending;
}
