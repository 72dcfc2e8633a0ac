#include "qemu_exit.h"

#include "halt.h"
#include "io_port.h"

namespace {

// Where every test setup of this project puts the device (common/run.sh and
// the harness pass iobase=0xf4).
constexpr IoPort kDebugExitPort{0xf4};

}  // namespace

void qemu_exit(QemuExitCode code) {
    kDebugExitPort.write(static_cast<uint8_t>(code));
    halt_forever();
}
