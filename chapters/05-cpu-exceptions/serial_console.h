#pragma once

// Printing on the serial port, with the formatting core of format.h: the
// UART is its second sink, after the screen.
//
//     serial_println("{} tests passed", count);
//
// On the screen a person reads what the kernel says; on serial a program
// can: a log file, a terminal on another machine, or the test harness,
// which reads test results from here. Like the screen, the port is shared
// by all code and guarded by a lock.

#include "format.h"
#include "output_sink.h"
#include "serial_port.h"
#include "spinlock.h"

class SerialConsole final : public OutputSink {
  public:
    constexpr explicit SerialConsole(SerialPort& port) : port_(port) {}

    // A terminal needs "\r\n" to start a new line (without the carriage
    // return the next line starts below the end of this one), so '\n' is
    // sent as both.
    void put_char(char character) override;

    // Text sent at the start of every line, until changed. The test runner
    // uses "# " so that whatever a test prints, a panic message included,
    // reaches the harness as a KTAP diagnostic line.
    void set_line_prefix(const char* prefix) { line_prefix_ = prefix; }

    [[nodiscard]] bool at_line_start() const { return at_line_start_; }
    [[nodiscard]] SerialPort& port() { return port_; }

  private:
    SerialPort& port_;
    const char* line_prefix_ = "";
    bool at_line_start_ = true;
};

// Sets up COM1. Returns false when the machine has no serial port; the
// console then drops what it is given.
[[nodiscard]] bool initialize_serial_console();

// The serial console, locked for as long as this object lives.
class LockedSerialConsole {
  public:
    LockedSerialConsole();

    SerialConsole& operator*() { return console_; }
    SerialConsole* operator->() { return &console_; }

  private:
    SpinlockGuard guard_;
    SerialConsole& console_;
};

template <typename... Args>
void serial_print(FormatString<TypeIdentity<Args>...> format, const Args&... args) {
    LockedSerialConsole console;
    format_to(*console, format, args...);
}

template <typename... Args>
void serial_println(FormatString<TypeIdentity<Args>...> format, const Args&... args) {
    LockedSerialConsole console;
    format_to(*console, format, args...);
    console->put_char('\n');
}

// Whether code holds the console's lock now: print.h's screen_is_locked()
// says why an exception handler asks.
[[nodiscard]] bool serial_console_is_locked();

// For panic() alone: the console, whether or not its lock is free, for the
// reason print.h's screen_for_panic() gives.
[[nodiscard]] SerialConsole& serial_console_for_panic();
