#include "serial_console.h"

namespace {

// constinit, as the screen's writer in print.cpp: usable before and during
// the global constructors.
constinit SerialPort com1{kCom1};
constinit SerialConsole console{com1};
constinit Spinlock console_lock;

}  // namespace

void SerialConsole::put_char(char character) {
    if (at_line_start_) {
        for (const char* prefix = line_prefix_; *prefix != '\0'; ++prefix) {
            port_.write_byte(static_cast<uint8_t>(*prefix));
        }
        at_line_start_ = false;
    }
    if (character == '\n') {
        port_.write_byte('\r');
        at_line_start_ = true;
    }
    port_.write_byte(static_cast<uint8_t>(character));
}

bool initialize_serial_console() {
    LockedSerialConsole locked;
    return locked->port().initialize();
}

LockedSerialConsole::LockedSerialConsole() : guard_(console_lock), console_(console) {}

bool serial_console_is_locked() {
    if (!console_lock.try_lock()) {
        return true;
    }
    console_lock.unlock();
    return false;
}

SerialConsole& serial_console_for_panic() {
    [[maybe_unused]] const bool was_free = console_lock.try_lock();
    return console;
}
