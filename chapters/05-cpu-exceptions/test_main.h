#pragma once

// What test_main.cpp keeps for the tests: the boot information the test
// kernel was started with. A test that hands the kernel made-up boot
// information (a symbol table of its own, say) gives it the real one back
// when it is done, so that the tests after it find the kernel as it booted.

#include "multiboot2.h"

[[nodiscard]] multiboot2::BootInformation booted_information();
