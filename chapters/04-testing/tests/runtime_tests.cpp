// Unit tests of the memory functions of common/runtime.cpp, which the
// compiler calls for struct copies and zeroed arrays all over the kernel:
// a mistake in them shows up far away, in whatever code the compiler chose
// to hand to them. Each buffer is text, so that a failure shows the bytes,
// and has bytes past the part the call is given, which must stay as they
// were.
//
// The calls reach runtime.cpp rather than code the compiler writes in their
// place: -ffreestanding implies -fno-builtin, so these names are ordinary
// functions to it.

#include <stddef.h>

#include "kernel_test.h"

// No header declares them: a freestanding kernel has no <string.h>.
extern "C" {
void* memcpy(void* destination, const void* source, size_t count);
void* memmove(void* destination, const void* source, size_t count);
void* memset(void* destination, int value, size_t count);
int memcmp(const void* left, const void* right, size_t count);
}

KERNEL_TEST(memcpy_copies_exactly_count_bytes) {
    char destination[] = "........";
    const char source[] = "abcdefgh";
    EXPECT_TRUE(memcpy(destination, source, 5) == destination);
    EXPECT_EQ(destination, "abcde...");
}

// The destination starts inside the source: copied front to back, the
// first bytes written would overwrite source bytes not yet read.
KERNEL_TEST(memmove_to_a_later_overlapping_place) {
    char text[] = "abcdef..";
    EXPECT_TRUE(memmove(text + 2, text, 5) == text + 2);
    EXPECT_EQ(text, "ababcde.");
}

// The destination starts at the source's last byte, the smallest overlap:
// that byte must be read before it is overwritten.
KERNEL_TEST(memmove_onto_the_last_byte_of_its_source) {
    char text[] = "abcde....";
    EXPECT_TRUE(memmove(text + 4, text, 5) == text + 4);
    EXPECT_EQ(text, "abcdabcde");
}

// The source starts inside the destination: now it is back to front that
// would overwrite bytes not yet read.
KERNEL_TEST(memmove_to_an_earlier_overlapping_place) {
    char text[] = "..abcdef";
    EXPECT_TRUE(memmove(text, text + 2, 5) == text);
    EXPECT_EQ(text, "abcdedef");
}

// memset takes its byte as an int, and stores only the low 8 bits of it.
KERNEL_TEST(memset_stores_the_low_byte_of_its_value) {
    char text[] = "........";
    EXPECT_TRUE(memset(text, 'x' + 0x100, 3) == text);
    EXPECT_EQ(text, "xxx.....");
    unsigned char bytes[3] = {1, 2, 3};
    memset(bytes, -1, 2);
    EXPECT_EQ(bytes[0], 0xffu);
    EXPECT_EQ(bytes[1], 0xffu);
    EXPECT_EQ(bytes[2], 3u);
}

// The first byte that differs decides, compared as unsigned char: 0x80 is
// greater than 'a' (it would be less as a signed char), whatever follows.
KERNEL_TEST(memcmp_orders_by_the_first_differing_unsigned_byte) {
    EXPECT_EQ(memcmp("abc", "abc", 3), 0);
    EXPECT_EQ(memcmp("abcX", "abcY", 3), 0);
    EXPECT_TRUE(memcmp("ab\x80", "abaz", 3) > 0);
    EXPECT_TRUE(memcmp("aba", "ab\x80", 3) < 0);
    EXPECT_TRUE(memcmp("abz", "acA", 3) < 0);
}

// The start-up code's walk of .init_array (constructors.cpp, chapter 1),
// with more than the single entry of chapter 1's kernel. The object defined
// second asks for an early turn: the compiler puts its constructor into a
// .init_array.NNNNN section of its own, which the linker script sorts before
// the plain .init_array. So the two are two entries of the array, and the
// later-defined one must be constructed first.
namespace {

volatile int constructors_run;

struct ConstructionTurn {
    ConstructionTurn() : turn(constructors_run + 1) { constructors_run = turn; }
    int turn;
};

ConstructionTurn defined_first;
[[gnu::init_priority(101)]] ConstructionTurn defined_second_with_priority;

}  // namespace

KERNEL_TEST(global_constructors_run_once_each_in_priority_order) {
    EXPECT_EQ(constructors_run, 2);
    EXPECT_EQ(defined_second_with_priority.turn, 1);
    EXPECT_EQ(defined_first.turn, 2);
}
