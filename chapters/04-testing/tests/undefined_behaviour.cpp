// Undefined behaviour on purpose, one kind per test, for the kernel built
// with UBSAN=1 only: each test must end in the sanitizer's report (a panic,
// so not ok), which must name the line marked with the kind it reports.
// The harness boots the kernel once per test (harness/test_ubsan.py).
// Together the tests reach every handler of common/ubsan.cpp, two of them
// only where clang built the kernel: GCC does not call them.
//
// The inputs are volatile: the compiler must read them at run time, so it
// can neither work the result out nor prove the check away.

#include <stddef.h>
#include <stdint.h>

#include "kernel_test.h"

namespace {

volatile int32_t largest_int32 = INT32_MAX;
volatile int32_t smallest_int32 = INT32_MIN;
volatile int64_t smallest_int64 = INT64_MIN;
volatile int32_t one = 1;
volatile int32_t two = 2;
volatile int32_t zero = 0;
volatile int32_t minus_one = -1;
volatile bool reached = true;
volatile uint32_t no_bits = 0;
// Shifted by minus_one: operands of two types, each of which the other
// would read as another number. The report must show each as its own type
// says, 2147483648 and -1, not -2147483648 or 4294967295.
volatile uint32_t top_bit = 1u << 31;
// Shifted by its own width: a number above the largest int64_t, which the
// report must show as the unsigned number it is, not as a negative one.
volatile uint64_t top_bit_of_64 = uint64_t{1} << 63;
volatile int32_t sixty_four = 64;

// Aligned to 8 bytes, so that one byte in is 1 past a multiple of 8: off
// in the bits below 4, which a uint32_t's alignment asks to be clear, while
// the bit of 4 itself is clear, and a check of that bit would see nothing.
alignas(8) uint32_t words[2] = {};
volatile uintptr_t one_byte = 1;
uint32_t* volatile no_word = nullptr;

// Reached through a null pointer, for a member.
struct Span {
    uint32_t start;
    uint32_t length;
};
Span* volatile no_span = nullptr;

// Two bytes, aligned as a uint32_t must be: room is all a uint32_t read
// from it lacks. It is used directly, not through a volatile pointer: the
// compiler checks a size only where it knows the object.
alignas(4) uint8_t two_bytes[2] = {};

int32_t table[4] = {};
// A signed index, before the start: the report must show -1, as the index's
// type says, not the unsigned number of the same bits.
volatile int32_t before_the_start = -1;

// Neither 0 nor 1, with the top bit set: the report must show 128, the
// unsigned number it is, not -128.
volatile uint8_t top_bit_as_a_byte = 0x80;

// An enum without a fixed underlying type holds only the values of the bits
// its enumerators need, -2 to 1 here. -4 is outside, and the report must
// show it as the signed number it is, not as its bits (4294967292).
enum Sign { negative = -1, positive = 1 };
volatile int32_t minus_four = -4;

// 16 bytes below the top of the address space: 32 further wraps around.
const uint8_t* volatile near_the_top = reinterpret_cast<const uint8_t*>(UINTPTR_MAX - 15);
volatile size_t thirty_two_bytes = 32;

const char* volatile no_text = nullptr;

[[gnu::noinline, gnu::nonnull]] size_t length_of(const char* text) {
    size_t length = 0;
    while (text[length] != '\0') {
        ++length;
    }
    return length;
}

[[gnu::noinline, gnu::returns_nonnull]] const char* text_or_null() {
    return no_text;  // undefined behaviour: null return
}

enum class Answer : uint8_t { yes, no };
volatile uint8_t neither_answer = 2;

// GCC warns that control can reach the end of the function (clang does
// not, since the switch names every enumerator): the warning is what keeps
// a student from writing this, and the test needs it written. Both
// compilers report the function's name as the place.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wreturn-type"
[[gnu::noinline]] int32_t answer_as_number(Answer answer) {  // undefined behaviour: missing return
    switch (answer) {
        case Answer::yes:
            return 1;
        case Answer::no:
            return 0;
    }
}
#pragma GCC diagnostic pop

}  // namespace

KERNEL_TEST(signed_integer_overflow_is_reported) {
    const int32_t sum = largest_int32 + one;  // undefined behaviour: signed integer overflow
    EXPECT_EQ(sum, INT32_MIN);
}

KERNEL_TEST(subtraction_overflow_is_reported) {
    const int32_t below = smallest_int32 - one;  // undefined behaviour: signed integer overflow
    EXPECT_EQ(below, INT32_MAX);
}

// In 64 bits, the widest integer a handle holds: the report must show the
// operand as a negative number of this width too.
KERNEL_TEST(wide_subtraction_overflow_is_reported) {
    const int64_t below = smallest_int64 - one;  // undefined behaviour: signed integer overflow
    EXPECT_EQ(below, INT64_MAX);
}

KERNEL_TEST(multiplication_overflow_is_reported) {
    const int32_t product = largest_int32 * two;  // undefined behaviour: signed integer overflow
    EXPECT_EQ(product, -2);
}

KERNEL_TEST(negation_overflow_is_reported) {
    const int32_t negated = -smallest_int32;  // undefined behaviour: signed integer overflow
    EXPECT_EQ(negated, INT32_MIN);
}

KERNEL_TEST(division_overflow_is_reported) {
    const auto ratio = smallest_int32 / minus_one;  // undefined behaviour: signed integer overflow
    EXPECT_EQ(ratio, INT32_MIN);
}

// A remainder, which divides as well: the compiler calls the same handler
// as for a quotient, and the report must not show it as one / zero.
KERNEL_TEST(division_by_zero_is_reported) {
    const int32_t remainder = one % zero;  // undefined behaviour: division by zero
    EXPECT_EQ(remainder, 0);
}

KERNEL_TEST(shift_out_of_bounds_is_reported) {
    const uint32_t shifted = top_bit << minus_one;  // undefined behaviour: shift out of bounds
    EXPECT_EQ(shifted, 0u);
}

KERNEL_TEST(wide_shift_out_of_bounds_is_reported) {
    const uint64_t shifted = top_bit_of_64 << sixty_four;  // undefined behaviour: shift out of bounds
    EXPECT_EQ(shifted, 0u);
}

KERNEL_TEST(misaligned_access_is_reported) {
    const auto* word =
        reinterpret_cast<const uint32_t*>(reinterpret_cast<uintptr_t>(words) + one_byte);
    const uint32_t value = *word;  // undefined behaviour: misaligned access
    EXPECT_EQ(value, 0u);
}

// The same handler as a misaligned access, with a pointer that is aligned:
// the report must tell the two apart. GCC sees the read run past the
// array, and warns: as with the missing return below, the warning keeps a
// student from writing this, and the test needs it written.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
KERNEL_TEST(object_too_small_is_reported) {
    const auto* word = reinterpret_cast<const uint32_t*>(two_bytes);
    const uint32_t value = *word;  // undefined behaviour: object too small
    EXPECT_EQ(value, 0u);
}
#pragma GCC diagnostic pop

#if defined(__clang__)
// Only clang checks __builtin_assume_aligned. The offset 2 says that the
// pointer lies 2 bytes past a multiple of 8; it lies 1 byte past one
// (words is aligned to 8). The report must show the offset and the
// alignment, each in its place.
KERNEL_TEST(alignment_assumption_is_reported) {
    const auto* word =
        reinterpret_cast<const uint32_t*>(reinterpret_cast<uintptr_t>(words) + one_byte);
    const void* aligned;
    aligned = __builtin_assume_aligned(word, 8, 2);  // undefined behaviour: misaligned assumption
    EXPECT_TRUE(aligned != nullptr);
}
#endif

// A store, where the misaligned access is a load: the report must say which.
KERNEL_TEST(null_pointer_is_reported) {
    *no_word = 1;  // undefined behaviour: null pointer
}

// A member's read: the compiler checks the object's pointer first, and
// the report must name that access, not a load or a store.
KERNEL_TEST(null_member_access_is_reported) {
    const uint32_t length = no_span->length;  // undefined behaviour: null pointer
    EXPECT_EQ(length, 0u);
}

KERNEL_TEST(out_of_bounds_index_is_reported) {
    const int32_t entry = table[before_the_start];  // undefined behaviour: index out of bounds
    EXPECT_EQ(entry, 0);
}

KERNEL_TEST(invalid_bool_is_reported) {
    const auto* flag = reinterpret_cast<const volatile bool*>(&top_bit_as_a_byte);
    const bool value = *flag;  // undefined behaviour: invalid value
    EXPECT_TRUE(value);
}

KERNEL_TEST(invalid_enum_is_reported) {
    const auto* sign = reinterpret_cast<const volatile Sign*>(&minus_four);
    const Sign value = *sign;  // undefined behaviour: invalid value
    EXPECT_EQ(static_cast<int32_t>(value), -4);
}

#if defined(__clang__)
// Only clang checks a conversion from floating point: GCC leaves
// float-cast-overflow out of -fsanitize=undefined. The value is a constant,
// as this kernel has no floating-point registers to read one into at run
// time (-mgeneral-regs-only): clang works the check out while compiling,
// and calls the handler whenever the test runs. The result is not const:
// a const integer's initial value clang works out while compiling as well,
// clamped to the type's range, and then checks nothing.
KERNEL_TEST(float_cast_overflow_is_reported) {
    constexpr double too_large = 1e20;
    int32_t whole = static_cast<int32_t>(too_large);  // undefined behaviour: float cast overflow
    EXPECT_EQ(whole, 0);
}
#endif

KERNEL_TEST(pointer_overflow_is_reported) {
    const uint8_t* past = near_the_top + thirty_two_bytes;  // undefined behaviour: pointer overflow
    EXPECT_TRUE(past != nullptr);
}

KERNEL_TEST(unreachable_code_is_reported) {
    if (reached) {
        __builtin_unreachable();  // undefined behaviour: unreachable code reached
    }
}

KERNEL_TEST(invalid_builtin_argument_is_reported) {
    const int zeros = __builtin_clz(no_bits);  // undefined behaviour: invalid builtin argument
    EXPECT_EQ(zeros, 32);
}

// The other builtin of the check, counting from the other end: the report
// must name the one called.
KERNEL_TEST(invalid_trailing_builtin_argument_is_reported) {
    const int zeros = __builtin_ctz(no_bits);  // undefined behaviour: invalid builtin argument
    EXPECT_EQ(zeros, 32);
}

KERNEL_TEST(non_positive_array_bound_is_reported) {
    uint8_t bytes[minus_one];  // undefined behaviour: non-positive array bound
    EXPECT_EQ(sizeof(bytes), 0u);
}

KERNEL_TEST(null_argument_is_reported) {
    const size_t length = length_of(no_text);  // undefined behaviour: null argument
    EXPECT_EQ(length, 0u);
}

KERNEL_TEST(null_return_is_reported) {
    const char* volatile text = text_or_null();
    EXPECT_TRUE(text != nullptr);
}

KERNEL_TEST(missing_return_is_reported) {
    EXPECT_EQ(answer_as_number(static_cast<Answer>(neither_answer)), 2);
}
