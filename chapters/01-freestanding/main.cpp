// Chapter 1's kernel: C++ that runs with no operating system beneath it.
//
// There is no screen to print on yet (that comes in chapter 2), so the
// kernel leaves its results in two global variables. Once it halts, a
// debugger, the QEMU monitor or the test harness reads them from memory.

#include <stdint.h>

#include "halt.h"

// extern "C" keeps the names unmangled, so that they are easy to find in
// the symbol table. volatile, because they are written for an observer
// outside the program: without it the compiler may evaluate the
// constructors below while compiling and store only their result.
extern "C" {
volatile uint32_t global_constructors_run;  // counted by the constructors
volatile uint32_t primes_below_10000;       // computed by kernel_main
}

namespace {

// A global object whose constructor has an effect. It only happens if the
// start-up code walks .init_array, so reading 2 in global_constructors_run
// shows that both objects below were constructed.
struct ConstructorWitness {
    ConstructorWitness() { global_constructors_run = global_constructors_run + 1; }
};

ConstructorWitness first_witness;
ConstructorWitness second_witness;

constexpr uint32_t kSieveLimit = 10000;

// In .bss, so it is zero (every number a prime candidate) before the loader
// jumps to the kernel.
bool is_composite[kSieveLimit];

// The sieve of Eratosthenes: ordinary C++, with loops and an array, that
// needs no library.
uint32_t count_primes_below(uint32_t limit) {
    uint32_t count = 0;
    for (uint32_t n = 2; n < limit; ++n) {
        if (is_composite[n]) {
            continue;
        }
        ++count;
        for (uint32_t multiple = n * n; multiple < limit; multiple += n) {
            is_composite[multiple] = true;
        }
    }
    return count;
}

}  // namespace

extern "C" void kernel_main() {
    primes_below_10000 = count_primes_below(kSieveLimit);
}
