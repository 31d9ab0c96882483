// tools/mnemo/text_output.h: writes token pieces to stdout the way llama2.c's run prints them,
// except that multi-byte UTF-8 characters split over byte tokens are kept whole.
//
// A piece that is one byte is printed only when it is printable ASCII or whitespace (llama2.c's
// safe_printf); bytes >= 0x80 are buffered until they form a complete, valid UTF-8 character,
// which is then printed; invalid sequences are dropped.
#pragma once

#include <cstdio>
#include <string>

namespace mnemo::cli {

class TextOutput {
 public:
  explicit TextOutput(FILE* out) : out_(out) {}
  void write_piece(const std::string& piece);
  void flush() { std::fflush(out_); }

 private:
  void write_byte(unsigned char c);
  FILE* out_;
  unsigned char pending_[4];
  int n_pending_ = 0;
  int n_expected_ = 0;
};

}  // namespace mnemo::cli
