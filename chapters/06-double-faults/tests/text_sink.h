#pragma once

// A sink that keeps what it is given as a string, so that a test can
// format into memory and compare the text.

#include <stddef.h>

#include "output_sink.h"

class TextSink final : public OutputSink {
  public:
    void put_char(char character) override {
        // Keep the last byte for the terminating zero; a test that needs
        // more than this is testing something else.
        if (length_ + 1 < kCapacity) {
            text_[length_++] = character;
            text_[length_] = '\0';
        }
    }

    [[nodiscard]] const char* text() const { return text_; }

  private:
    static constexpr size_t kCapacity = 256;
    char text_[kCapacity] = {};
    size_t length_ = 0;
};
