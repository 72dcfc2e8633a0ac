#include "halt.h"

extern "C" [[noreturn]] void halt_forever() {
    // cli masks interrupts so that none wakes the CPU from hlt. A
    // non-maskable interrupt still can, hence the loop.
    for (;;) {
        asm volatile("cli; hlt");
    }
}
