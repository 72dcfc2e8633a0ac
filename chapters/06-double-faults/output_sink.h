#pragma once

// Where formatted text goes. The formatting core (format.h) knows nothing
// about screens or serial ports: it hands every character to a sink. The
// VGA writer is one sink; any other device that can take characters
// becomes another by implementing put_char, and reuses the core unchanged.
class OutputSink {
  public:
    virtual void put_char(char character) = 0;

  protected:
    // Sinks are never destroyed through this interface (there is no heap to
    // delete them from), so the destructor need not be virtual; protected
    // keeps anyone from trying.
    ~OutputSink() = default;
};
