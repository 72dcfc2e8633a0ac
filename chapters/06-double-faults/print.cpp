#include "print.h"

namespace {

// constinit: both are built by the compiler, not by a constructor at boot,
// so printing works before (and from inside) the global constructors.
constinit VgaWriter screen{kDefaultTextColor};
constinit Spinlock screen_lock;

}  // namespace

LockedScreen::LockedScreen() : guard_(screen_lock), writer_(screen) {}

void set_screen_present(bool present) {
    LockedScreen screen;
    screen->set_present(present);
}

void clear_screen() {
    LockedScreen screen;
    screen->clear();
}

void set_text_color(ColorCode color) {
    LockedScreen screen;
    screen->set_color(color);
}

bool screen_is_locked() {
    if (!screen_lock.try_lock()) {
        return true;
    }
    screen_lock.unlock();
    return false;
}

VgaWriter& screen_for_panic() {
    // The lock is free unless the code that panicked holds it, for instance
    // when a panic strikes halfway through a print. Waiting for it then
    // would wait forever: this kernel has one CPU, interrupts are off, and
    // panic never returns to the holder. So the panic takes the writer
    // either way. Taking the lock when it is free still keeps anyone else
    // from printing into the panic message; it is never released, since
    // nothing runs after a panic.
    [[maybe_unused]] const bool was_free = screen_lock.try_lock();
    return screen;
}
