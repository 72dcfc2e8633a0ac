#pragma once

// panic(): the kernel found something it cannot recover from. It prints
// the message, with the source file and line of the call, in white on red
// on the screen and on the serial port, and halts the CPU for good.
//
//     panic("page table at {} is not aligned", table);
//
// The message is a format string (format.h).

#include <stdint.h>

#include "format.h"

// A panic's format string together with where panic() was called.
//
// The call site comes from __builtin_FILE() and __builtin_LINE() in default
// arguments, which the compiler evaluates at the place of the call (the
// builtins behind C++20's std::source_location, whose header this toolchain,
// shipping no C++ library, does not have). A macro could do the same, but a
// function keeps panic an ordinary, typed, namespaced name. The location
// cannot be a default argument of panic() itself, since nothing may follow
// its variadic arguments; the format string is converted at the call site,
// so its constructor is where the location is picked up.
template <typename... Args>
class PanicMessage {
  public:
    consteval PanicMessage(const char* text, const char* source_file = __builtin_FILE(),
                           uint32_t source_line = __builtin_LINE())
        : format(text), file(source_file), line(source_line) {}

    FormatString<Args...> format;
    const char* file;
    uint32_t line;
};

// The two halves of panic() that need no template: begin_panic prints the
// heading and returns where the message goes; finish_panic ends the line,
// calls the panic ending, if one is set, and halts.
[[nodiscard]] OutputSink& begin_panic(const char* file, uint32_t line);
[[noreturn]] void finish_panic();

// What runs once a panic's message is out, in place of halting at once. A
// test kernel's runner sets one that reports the running test and ends
// QEMU. If it returns, the CPU halts as usual.
void set_panic_ending(void (*ending)());

template <typename... Args>
[[noreturn]] void panic(PanicMessage<TypeIdentity<Args>...> message, const Args&... args) {
    OutputSink& output = begin_panic(message.file, message.line);
    format_to(output, message.format, args...);
    finish_panic();
}
