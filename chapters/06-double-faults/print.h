#pragma once

// Printing on the screen. There is one screen, so there is one writer for
// it, shared by all code and guarded by a lock: two CPUs (or, in later
// chapters, an interrupt handler) printing at once must not interleave
// within a line or race on the cursor.
//
//     println("{} of {} pages free", free, total);
//
// The format syntax is described in format.h.

#include "format.h"
#include "spinlock.h"
#include "vga.h"

// The colour the screen starts with, and that print() uses unless told
// otherwise: the VGA default, light gray on black.
constexpr ColorCode kDefaultTextColor{Color::LightGray, Color::Black};

// The screen's writer, locked for as long as this object lives. For work
// that must not be interleaved with other output, such as a change of
// colour and the text written in it:
//
//     LockedScreen screen;
//     screen->set_color(ColorCode{Color::Yellow, Color::Black});
//     format_to(*screen, "warning: {}", what);
class LockedScreen {
  public:
    LockedScreen();

    VgaWriter& operator*() { return writer_; }
    VgaWriter* operator->() { return &writer_; }

  private:
    SpinlockGuard guard_;
    VgaWriter& writer_;
};

template <typename... Args>
void print(FormatString<TypeIdentity<Args>...> format, const Args&... args) {
    LockedScreen screen;
    format_to(*screen, format, args...);
}

template <typename... Args>
void println(FormatString<TypeIdentity<Args>...> format, const Args&... args) {
    LockedScreen screen;
    format_to(*screen, format, args...);
    screen->put_char('\n');
}

// Whether the screen is in VGA text mode, as the boot information says
// (multiboot2.h). Until told so, printing on the screen writes nothing.
void set_screen_present(bool present);

// Blanks the screen in the current colour and starts again at the top.
void clear_screen();
void set_text_color(ColorCode color);

// Whether code holds the screen's lock now. With one CPU and interrupts
// off, only the code an exception handler interrupted can: the handler
// must then not take the lock, which would never come free.
[[nodiscard]] bool screen_is_locked();

// For panic() alone: the writer, whether or not its lock is free (panic.cpp
// explains why).
[[nodiscard]] VgaWriter& screen_for_panic();
