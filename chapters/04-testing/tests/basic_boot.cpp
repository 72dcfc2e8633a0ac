// Integration test: printing works straight after boot, with nothing set up
// but what test_main.cpp needs to report (the serial port). Later chapters
// set up more before their tests run; this kernel keeps checking that the
// first thing a kernel does still works without any of it.

#include "kernel_test.h"
#include "print.h"
#include "screen.h"
#include "serial_console.h"

KERNEL_TEST_ON_SCREEN(basic_boot_println_reaches_the_screen) {
    println("basic_boot: printing works");
    EXPECT_TRUE(screen_row_starts_with(0, "basic_boot: printing works"));
    EXPECT_EQ(screen_attribute(0, 0), kDefaultTextColor.value());
}

KERNEL_TEST(basic_boot_serial_println_reaches_the_harness) {
    // The harness checks that this line arrives.
    serial_println("basic_boot: serial works, {} {:x}", INT64_MIN, UINT64_MAX);
}
