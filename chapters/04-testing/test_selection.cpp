#include "test_selection.h"

namespace {

constexpr const char kOption[] = "tests=";
constexpr size_t kOptionLength = sizeof(kOption) - 1;

[[nodiscard]] bool ends_word(char character) {
    return character == '\0' || character == ' ';
}

[[nodiscard]] size_t word_length(const char* word) {
    size_t length = 0;
    while (!ends_word(word[length])) {
        ++length;
    }
    return length;
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

}  // namespace

bool ListedName::is(const char* name) const {
    for (size_t i = 0; i < length_; ++i) {
        if (name[i] != start_[i]) {  // also stops at the end of a shorter name
            return false;
        }
    }
    return name[length_] == '\0';
}

TestSelection::TestSelection(const char* command_line) {
    for (const char* word = command_line; *word != '\0' && problem_ == nullptr;) {
        if (*word == ' ') {
            ++word;
            continue;
        }
        const size_t length = word_length(word);
        check_word(word, length);
        word += length;
    }
    if (problem_ != nullptr) {
        list_ = nullptr;
    }
}

void TestSelection::check_word(const char* word, size_t length) {
    if (!starts_with(word, kOption)) {
        reject("unknown option", word, length);
        return;
    }
    if (list_ != nullptr) {
        reject("a second tests=", word, length);
        return;
    }
    list_ = word + kOptionLength;
    for_each_name([&](ListedName listed) {
        if (listed.length() == 0 && problem_ == nullptr) {
            reject("an empty test name in", word, length);
        }
    });
}

void TestSelection::reject(const char* problem, const char* word, size_t length) {
    problem_ = problem;
    offending_word_ = ListedName(word, length);
}

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
