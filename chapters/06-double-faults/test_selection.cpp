#include "test_selection.h"

namespace {

constexpr const char kOption[] = "tests=";

[[nodiscard]] bool ends_word(char character) {
    return character == '\0' || character == ' ';
}

// Whether the word at `word` starts with `prefix`.
[[nodiscard]] bool starts_with(const char* word, const char* prefix) {
    for (; *prefix != '\0'; ++word, ++prefix) {
        if (*word != *prefix) {
            return false;
        }
    }
    return true;
}

// The list after the option, or nullptr if no word of the command line
// starts with it.
[[nodiscard]] const char* find_list(const char* command_line) {
    for (const char* word = command_line; *word != '\0'; ++word) {
        const bool at_word_start = word == command_line || word[-1] == ' ';
        if (at_word_start && starts_with(word, kOption)) {
            return word + sizeof(kOption) - 1;
        }
    }
    return nullptr;
}

}  // namespace

bool ListedName::is(const char* name) const {
    for (size_t i = 0; i < length_; ++i) {
        if (name[i] != start_[i]) {  // also stops at the end of a shorter name
            return false;
        }
    }
    return name[length_] == '\0';
}

TestSelection::TestSelection(const char* command_line) : list_(find_list(command_line)) {}

bool TestSelection::includes(const char* name) const {
    bool included = selects_all();
    for_each_name([&](ListedName listed) { included |= listed.is(name); });
    return included;
}

size_t TestSelection::name_length(const char* start) {
    size_t length = 0;
    while (start[length] != ',' && !ends_word(start[length])) {
        ++length;
    }
    return length;
}
