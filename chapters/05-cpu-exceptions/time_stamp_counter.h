#pragma once

// The time-stamp counter: a 64-bit count of clock ticks since the processor
// was reset, read with one instruction. On the x86_64 PCs of the last
// fifteen years it ticks at a constant rate, the processor's nominal
// frequency of 1 to 5 GHz, whatever the cores' current speed ("invariant
// TSC"); under QEMU's emulator it follows the host's. Its rate is not known
// without a timer to measure it against, but a kernel that has no timer yet
// can still bound a wait in time with it, rather than in loop iterations,
// whose speed differs many times over between machines and emulators.

#include <stdint.h>

[[nodiscard]] inline uint64_t read_time_stamp_counter() {
    uint32_t low;
    uint32_t high;
    // volatile: each read must happen where it stands, not be merged with
    // an earlier one or moved out of a loop.
    asm volatile("rdtsc" : "=a"(low), "=d"(high));
    return (uint64_t{high} << 32) | low;
}
