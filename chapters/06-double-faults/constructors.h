#pragma once

// Calls the constructor of every global object, in the order the linker
// collected them in .init_array. Must run before any code uses a global.
extern "C" void run_global_constructors();
