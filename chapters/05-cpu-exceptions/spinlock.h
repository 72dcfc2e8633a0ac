#pragma once

// A lock that waits by spinning: the waiting CPU loops until the holder
// lets go. It needs no scheduler and no heap, which is why a kernel's
// first lock looks like this.
//
// The toolchain ships no C++ library, so there is no <atomic> (nor any other
// C++ header) to include; the lock uses the compiler's __atomic builtins,
// which std::atomic is built on. Acquire ordering on lock and release ordering on
// unlock keep the memory accesses of the critical section inside it.
//
// Interrupts stay off for the whole of this kernel (GRUB starts it with
// them masked and nothing unmasks them), so no interrupt handler can find
// the lock held. A chapter that turns interrupts on must mask them while a
// lock that handlers also take is held, or a handler will spin forever.
class Spinlock {
  public:
    constexpr Spinlock() = default;
    Spinlock(const Spinlock&) = delete;
    Spinlock& operator=(const Spinlock&) = delete;

    void lock() {
        while (!try_lock()) {
            // Wait with plain reads until the lock looks free, rather than
            // with atomic writes that fight over the cache line. pause
            // tells the CPU that this is a spin loop.
            while (__atomic_load_n(&locked_, __ATOMIC_RELAXED)) {
                asm volatile("pause");
            }
        }
    }

    [[nodiscard]] bool try_lock() { return !__atomic_test_and_set(&locked_, __ATOMIC_ACQUIRE); }

    void unlock() { __atomic_clear(&locked_, __ATOMIC_RELEASE); }

  private:
    bool locked_ = false;
};

// Holds a spinlock for as long as it lives, so that no return path can
// forget to unlock it.
class SpinlockGuard {
  public:
    explicit SpinlockGuard(Spinlock& lock) : lock_(lock) { lock_.lock(); }
    ~SpinlockGuard() { lock_.unlock(); }
    SpinlockGuard(const SpinlockGuard&) = delete;
    SpinlockGuard& operator=(const SpinlockGuard&) = delete;

  private:
    Spinlock& lock_;
};
