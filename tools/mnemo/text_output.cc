#include "text_output.h"

#include <cctype>

namespace mnemo::cli {
namespace {
int utf8_length(unsigned char lead) {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;  // continuation byte or invalid lead
}
}  // namespace

void TextOutput::write_byte(unsigned char c) {
  if (c < 0x80) {
    n_pending_ = n_expected_ = 0;  // an unfinished character is dropped
    if (std::isprint(c) || std::isspace(c)) std::fputc(c, out_);
    return;
  }
  if (n_pending_ == 0) {
    n_expected_ = utf8_length(c);
    if (n_expected_ == 0) return;
    pending_[n_pending_++] = c;
    return;
  }
  if ((c & 0xc0) != 0x80) {  // not a continuation: restart with this byte
    n_pending_ = 0;
    write_byte(c);
    return;
  }
  pending_[n_pending_++] = c;
  if (n_pending_ == n_expected_) {
    std::fwrite(pending_, 1, static_cast<size_t>(n_pending_), out_);
    n_pending_ = n_expected_ = 0;
  }
}

void TextOutput::write_piece(const std::string& piece) {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    write_byte(static_cast<unsigned char>(piece[0]));
    return;
  }
  // A multi-byte piece is text from the vocabulary: printed as is, after any pending bytes.
  n_pending_ = n_expected_ = 0;
  std::fwrite(piece.data(), 1, piece.size(), out_);
}

}  // namespace mnemo::cli
