#include "panic.h"

#include "halt.h"
#include "print.h"

namespace {

constexpr ColorCode kPanicColor{Color::White, Color::Red};

bool panicking = false;

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
    format_to(screen, "KERNEL PANIC at {}:{}: ", file, line);
    return screen;
}

void finish_panic() {
    VgaWriter& screen = screen_for_panic();
    // The normal colour again before the newline: if it scrolls, the new
    // bottom row is blanked in the current colour, and a red row under the
    // message would look like part of it.
    screen.set_color(kDefaultTextColor);
    screen.put_char('\n');
    halt_forever();
}
