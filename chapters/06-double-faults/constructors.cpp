#include "constructors.h"

// A global object whose constructor does work at run time gets a pointer to
// an initialisation function in the .init_array section. On a hosted system
// the C runtime calls them all before main; here nobody does unless we do.
// The linker script marks where the section starts and ends.

using GlobalConstructor = void (*)();

extern "C" GlobalConstructor __init_array_start[];
extern "C" GlobalConstructor __init_array_end[];

extern "C" void run_global_constructors() {
    for (GlobalConstructor* constructor = __init_array_start; constructor != __init_array_end;
         ++constructor) {
        (*constructor)();
    }
}
