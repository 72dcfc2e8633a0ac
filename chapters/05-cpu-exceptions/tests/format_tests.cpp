// Unit tests of chapter 3's formatting core, formatted into memory.

#include <stdint.h>

#include "format.h"
#include "kernel_test.h"
#include "text_sink.h"

namespace {

template <typename... Args>
[[nodiscard]] TextSink formatted(FormatString<TypeIdentity<Args>...> format, const Args&... args) {
    TextSink sink;
    format_to(sink, format, args...);
    return sink;
}

// Unscoped enums, with and without a fixed underlying type.
enum PlainNumber { kPlainFour = 4, kPlainFifteen = 15 };
enum SmallNumber : uint8_t { kSmallFourteen = 14 };

}  // namespace

KERNEL_TEST(format_unscoped_enum_as_integer) {
    EXPECT_EQ(formatted("{} {:x}", kPlainFour, kPlainFifteen).text(), "4 0xf");
    EXPECT_EQ(formatted("{:3}", kSmallFourteen).text(), " 14");
}

KERNEL_TEST(format_int64_extremes) {
    EXPECT_EQ(formatted("{}", INT64_MIN).text(), "-9223372036854775808");
    EXPECT_EQ(formatted("{}", INT64_MAX).text(), "9223372036854775807");
}

KERNEL_TEST(format_uint64_max) {
    EXPECT_EQ(formatted("{}", UINT64_MAX).text(), "18446744073709551615");
    EXPECT_EQ(formatted("{:x}", UINT64_MAX).text(), "0xffffffffffffffff");
}

KERNEL_TEST(format_narrow_integer_extremes) {
    EXPECT_EQ(formatted("{} {}", int8_t{INT8_MIN}, uint8_t{UINT8_MAX}).text(), "-128 255");
    EXPECT_EQ(formatted("{} {}", int16_t{INT16_MIN}, uint16_t{UINT16_MAX}).text(), "-32768 65535");
    EXPECT_EQ(formatted("{} {}", int32_t{INT32_MIN}, uint32_t{UINT32_MAX}).text(),
              "-2147483648 4294967295");
}

KERNEL_TEST(format_zero) {
    EXPECT_EQ(formatted("{} {:x}", 0, 0u).text(), "0 0x0");
}

KERNEL_TEST(format_width_and_padding) {
    EXPECT_EQ(formatted("[{:6}]", 42).text(), "[    42]");
    EXPECT_EQ(formatted("[{:06}]", -42).text(), "[-00042]");
    EXPECT_EQ(formatted("[{:6}]", "text").text(), "[text  ]");
    EXPECT_EQ(formatted("[{:5}] [{:4}]", "text", "text").text(), "[text ] [text]");
    EXPECT_EQ(formatted("{:08x}", 0xb8000u).text(), "0x000b8000");
}

// Spaces go before the whole number, zeros between its sign or prefix and
// its digits: either way the sign and the 0x stay next to the number.
KERNEL_TEST(format_padding_keeps_sign_and_prefix_with_the_digits) {
    EXPECT_EQ(formatted("[{:6}]", -42).text(), "[   -42]");
    EXPECT_EQ(formatted("[{:8x}]", 255u).text(), "[      0xff]");
}

// The sign comes before the prefix, as in std::format (format.h).
KERNEL_TEST(format_negative_hexadecimal_keeps_its_sign) {
    EXPECT_EQ(formatted("{:x} {:06x}", -1, -255).text(), "-0x1 -0x000ff");
}

KERNEL_TEST(format_bool_char_string_pointer) {
    const auto* vga = reinterpret_cast<const void*>(0xb8000);
    EXPECT_EQ(formatted("{} {} {}{}", true, false, 'o', 'k').text(), "true false ok");
    EXPECT_EQ(formatted("{} {}", vga, nullptr).text(), "0x00000000000b8000 0x0000000000000000");
    EXPECT_EQ(formatted("{}", static_cast<const char*>(nullptr)).text(), "(null)");
}

KERNEL_TEST(format_literal_braces) {
    EXPECT_EQ(formatted("{{{}}}", 1).text(), "{1}");
}
