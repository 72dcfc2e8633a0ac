#pragma once

// Which tests a test kernel runs: those the kernel command line names with
// tests=NAME,NAME,... (one word, names separated by commas), or all of them
// when it is empty. The harness boots a test kernel so to run one test:
//
//     multiboot2 /boot/kernel.elf tests=vga_long_line_wraps
//
// A test kernel's command line holds that option and nothing else. Any
// other word, a second tests=, or an empty name in the list is a mistake
// in the command line, which the runner reports, naming the word, and
// fails the run: never "run everything" on a selection it misread.

#include <stddef.h>

// A piece of the command line (a name of the list, or a whole word) as it
// stands there: not zero-terminated, but ended by a comma, a space or the
// end of the line.
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

    // What is wrong with the command line ("unknown option", ...), or
    // nullptr; the word at fault is offending_word().
    [[nodiscard]] const char* problem() const { return problem_; }
    [[nodiscard]] ListedName offending_word() const { return offending_word_; }

    // A command line with a problem selects nothing.
    [[nodiscard]] bool selects_all() const { return list_ == nullptr && problem_ == nullptr; }
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
    void check_word(const char* word, size_t length);
    void reject(const char* problem, const char* word, size_t length);

    const char* list_ = nullptr;  // just after "tests=", or nullptr
    const char* problem_ = nullptr;
    ListedName offending_word_{"", 0};
};
