// Undefined behaviour on purpose, one kind per test, for the kernel built
// with UBSAN=1 only: each test must end in the sanitizer's report (a panic,
// so not ok), which must name the line marked with the kind it reports.
// The harness boots the kernel once per test (harness/test_ubsan.py).
//
// The inputs are volatile: the compiler must read them at run time, so it
// can neither work the result out nor prove the check away.

#include <stddef.h>
#include <stdint.h>

#include "kernel_test.h"

namespace {

volatile int32_t largest_int32 = INT32_MAX;
volatile int32_t one = 1;

uint32_t words[2] = {};
volatile uintptr_t one_byte = 1;

int32_t table[4] = {};
volatile size_t past_the_end = 4;

}  // namespace

KERNEL_TEST(signed_integer_overflow_is_reported) {
    const int32_t sum = largest_int32 + one;  // undefined behaviour: signed integer overflow
    EXPECT_EQ(sum, INT32_MIN);
}

KERNEL_TEST(misaligned_access_is_reported) {
    const auto* word =
        reinterpret_cast<const uint32_t*>(reinterpret_cast<uintptr_t>(words) + one_byte);
    const uint32_t value = *word;  // undefined behaviour: misaligned access
    EXPECT_EQ(value, 0u);
}

KERNEL_TEST(out_of_bounds_index_is_reported) {
    const int32_t entry = table[past_the_end];  // undefined behaviour: index out of bounds
    EXPECT_EQ(entry, 0);
}
