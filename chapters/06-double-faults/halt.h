#pragma once

// Stops the CPU for good. This is where the kernel ends when it has nothing
// left to do.
extern "C" [[noreturn]] void halt_forever();
