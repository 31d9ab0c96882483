#include "tokenizer/vocab_tokenizer.h"

#include <algorithm>

namespace mnemo::tokenizer {

void VocabTokenizer::init() {
  const int32_t n = vocab_.size();
  piece_offsets_.assign(1, 0);
  piece_offsets_.reserve(static_cast<size_t>(n) + 1);
  for (Token t = 0; t < n; ++t) {
    std::string p = compute_piece(t);
    piece_blob_.insert(piece_blob_.end(), p.begin(), p.end());
    piece_offsets_.push_back(piece_blob_.size());
  }

  specials_.clear();
  for (Token t = 0; t < n; ++t) {
    const TokenAttr a = vocab_.attr(t);
    if (a != TokenAttr::kControl && a != TokenAttr::kUnknown && a != TokenAttr::kUserDefined) continue;
    std::string text = special_match_text(t);
    if (text.empty()) continue;
    const bool always = a == TokenAttr::kUserDefined;
    has_always_special_ = has_always_special_ || always;
    specials_.push_back(Special{t, std::move(text), always});
  }
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });
}

std::string_view VocabTokenizer::piece_view(Token t) const {
  if (!vocab_.contains(t) || static_cast<size_t>(t) + 1 >= piece_offsets_.size()) return {};
  return std::string_view(piece_blob_.data() + piece_offsets_[t], piece_offsets_[t + 1] - piece_offsets_[t]);
}

namespace {

struct Fragment {
  Token id;      // >= 0: a special token; -1: plain text [offset, offset+length)
  size_t offset;
  size_t length;
};

}  // namespace

std::vector<Token> VocabTokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<Token> out;
  if (add_bos && ids_.bos >= 0) out.push_back(ids_.bos);
  if (text.empty()) return out;

  std::vector<Fragment> frags{{-1, 0, text.size()}};
  if (parse_special || has_always_special_) {
    std::vector<Fragment> next;
    for (const Special& sp : specials_) {
      if (!parse_special && !sp.always) continue;
      next.clear();
      for (const Fragment& f : frags) {
        if (f.id >= 0) {
          next.push_back(f);
          continue;
        }
        const size_t end = f.offset + f.length;
        const std::string_view window = text.substr(0, end);
        size_t pos = f.offset;
        while (pos < end) {
          const size_t m = window.find(sp.text, pos);
          if (m == std::string_view::npos) break;
          if (m > pos) next.push_back({-1, pos, m - pos});
          next.push_back({sp.id, m, sp.text.size()});
          pos = m + sp.text.size();
        }
        if (pos < end) next.push_back({-1, pos, end - pos});
      }
      frags.swap(next);
    }
  }

  bool after_special = true;
  for (const Fragment& f : frags) {
    if (f.id >= 0) {
      out.push_back(f.id);
      after_special = true;
    } else {
      encode_fragment(text.substr(f.offset, f.length), after_special, &out);
      after_special = false;
    }
  }
  return out;
}

}  // namespace mnemo::tokenizer
