// A test the failing_tests kernel never reaches: linked after
// failing_panic.cpp, so the panic there stops the run before it. Selected
// without that test, it runs and passes, after a failure: the harness
// checks that the run fails all the same.

#include "kernel_test.h"

KERNEL_TEST(not_run_after_a_panic) {}
