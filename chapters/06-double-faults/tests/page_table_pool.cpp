// A should-panic test of unmap_page's pool of tables (paging.h). It has a
// kernel of its own, as its panic ends the run: double_fault_tests, where
// it would belong otherwise, is also booted whole (by the check of the
// second compiler), and must finish every test. The harness checks that
// the panic names the page the test unmapped last
// (harness/test_06_double_faults.py).

#include <stddef.h>
#include <stdint.h>

#include "identity_map.h"
#include "kernel_test.h"
#include "paging.h"
#include "serial_console.h"

namespace {

constexpr uint64_t kHugePageSize = kEntriesPerTable * kPageSize;

// How many 2 MiB pages of the identity map are split into small ones:
// each took a table of unmap_page's pool.
size_t split_huge_pages() {
    size_t split = 0;
    for (uint64_t address = 0; address < kIdentityMapEnd; address += kHugePageSize) {
        split += page_directory_entry(address).has(PageBits::Huge) ? 0 : 1;
    }
    return split;
}

}  // namespace

// The pool has no table beyond its last: one taken from past its end would
// be memory that belongs to something else, which the split would fill
// with 512 entries. Once the pool is used up, unmap_page must refuse, with
// a panic that names the page. The test uses up what the kernel's own
// guard pages left, from the top of the map down, far from the kernel; the
// harness checks that the panic names the page of the last call.
KERNEL_TEST_SHOULD_PANIC(unmap_page_panics_once_no_table_is_left_to_split) {
    uint64_t huge_page = kIdentityMapEnd - kHugePageSize;
    for (size_t left = kSplitTables - split_huge_pages(); left > 0; --left) {
        unmap_page(huge_page);
        huge_page -= kHugePageSize;
    }
    EXPECT_EQ(split_huge_pages(), kSplitTables);
    serial_println("no table is left: unmapping {:016x} must panic", huge_page);
    unmap_page(huge_page);
}
