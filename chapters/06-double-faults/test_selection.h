#pragma once

// Which tests a test kernel runs: those the kernel command line names with
// tests=NAME,NAME,... (one word, names separated by commas), or all of them
// when it names none. The harness boots a test kernel so to run one test:
//
//     multiboot2 /boot/kernel.elf tests=vga_long_line_wraps

#include <stddef.h>

// One name of the list, as it stands in the command line: not
// zero-terminated, but ended by a comma, a space or the end of the line.
class ListedName {
  public:
    constexpr ListedName(const char* start, size_t length) : start_(start), length_(length) {}

    [[nodiscard]] bool is(const char* name) const;
    [[nodiscard]] const char* start() const { return start_; }
    [[nodiscard]] size_t length() const { return length_; }

  private:
    const char* start_;
    size_t length_;
};

class TestSelection {
  public:
    explicit TestSelection(const char* command_line);

    [[nodiscard]] bool selects_all() const { return list_ == nullptr; }
    [[nodiscard]] bool includes(const char* name) const;

    // Calls visit(ListedName) for each name of the list.
    template <typename Visit>
    void for_each_name(Visit visit) const {
        if (list_ == nullptr) {
            return;
        }
        const char* start = list_;
        for (;;) {
            const size_t length = name_length(start);
            visit(ListedName(start, length));
            if (start[length] != ',') {
                return;
            }
            start += length + 1;
        }
    }

  private:
    [[nodiscard]] static size_t name_length(const char* start);

    const char* list_;  // just after "tests=", or nullptr
};
