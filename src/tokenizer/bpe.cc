#include "tokenizer/bpe.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "base/strings.h"
#include "tokenizer/utf8.h"

namespace mnemo::tokenizer {

namespace {

struct ByteMap {
  std::array<std::string, 256> to_utf8;
  std::array<int16_t, 512> from_cp;  // code point (< 512) -> byte, or -1
  ByteMap() {
    from_cp.fill(-1);
    // GPT-2 bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
    // take the code points 256, 257, ... in byte order.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      utf8_append(&to_utf8[b], cp);
      from_cp[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

struct Symbol {
  int64_t prev;
  int64_t next;
  size_t start;
  size_t len;
  Token id;  // the token whose text this is, or -1
};

struct Bigram {
  int32_t rank;
  int64_t left;
  int64_t right;
  size_t len;
};

// Max-heap order: lowest rank first, then the leftmost pair.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

std::string_view bpe_byte_to_utf8(uint8_t b) { return byte_map().to_utf8[b]; }

bool bpe_codepoint_to_byte(uint32_t cp, uint8_t* byte) {
  if (cp >= 512) return false;
  const int16_t b = byte_map().from_cp[cp];
  if (b < 0) return false;
  *byte = static_cast<uint8_t>(b);
  return true;
}

size_t BpeTokenizer::PairHash::operator()(const PairKey& k) const {
  const size_t h1 = std::hash<std::string_view>()(k.left);
  const size_t h2 = std::hash<std::string_view>()(k.right);
  return h1 ^ (h2 + 0x9e3779b97f4a7c15ull + (h1 << 6) + (h1 >> 2));
}

struct BpeTokenizer::Scratch {
  std::string enc;
  std::vector<Symbol> syms;
  std::vector<Bigram> heap;
};

namespace {

uint64_t id_pair_key(Token l, Token r) { return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r); }

size_t id_slot(uint64_t key, size_t mask) {
  uint64_t h = key * 0x9e3779b97f4a7c15ull;
  return static_cast<size_t>(h ^ (h >> 29)) & mask;
}

}  // namespace

Expected<std::unique_ptr<BpeTokenizer>> BpeTokenizer::create(Vocab vocab, SpecialIds ids, VocabFlags flags,
                                                             const std::vector<std::string_view>& merges,
                                                             const PreTypeInfo& pre, const std::string& subject) {
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer(std::move(vocab), ids, flags));
  MNEMO_ASSIGN_OR_RETURN(tok->pre_, PreTokenizer::create(pre.type));
  tok->ignore_merges_ = pre.ignore_merges;
  for (int b = 0; b < 256; ++b) tok->byte_char_token_[b] = tok->vocab_.find(bpe_byte_to_utf8(static_cast<uint8_t>(b)));

  size_t cap = 16;
  while (cap < 2 * merges.size()) cap *= 2;
  tok->id_ranks_.assign(cap, IdSlot());
  tok->id_mask_ = cap - 1;

  // Merges whose sides are both tokens go to the id table; the others keep their text.
  std::vector<size_t> by_text;
  std::vector<size_t> split_at(merges.size());
  size_t text_bytes = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string_view m = merges[i];
    // llama.cpp splits at the first space after the first byte.
    const size_t pos = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
    if (pos == std::string_view::npos) {
      return corrupt(str_printf("%s: entry %zu: expected \"<left> <right>\", found %s", subject.c_str(), i,
                                quote_bytes(m).c_str()));
    }
    split_at[i] = pos;
    const int32_t rank = static_cast<int32_t>(std::min<size_t>(i, INT32_MAX));
    const Token l = tok->vocab_.find(m.substr(0, pos));
    const Token r = tok->vocab_.find(m.substr(pos + 1));
    if (l >= 0 && r >= 0) {
      const uint64_t key = id_pair_key(l, r);
      size_t k = id_slot(key, tok->id_mask_);
      while (tok->id_ranks_[k].key != ~0ull && tok->id_ranks_[k].key != key) k = (k + 1) & tok->id_mask_;
      if (tok->id_ranks_[k].key == ~0ull) tok->id_ranks_[k] = IdSlot{key, rank};  // the first rank wins
    } else {
      by_text.push_back(i);
      text_bytes += m.size();
    }
  }
  tok->merge_blob_.reserve(text_bytes);
  for (size_t i : by_text) tok->merge_blob_.insert(tok->merge_blob_.end(), merges[i].begin(), merges[i].end());
  tok->ranks_.reserve(by_text.size());
  size_t off = 0;
  for (size_t i : by_text) {
    const std::string_view m(tok->merge_blob_.data() + off, merges[i].size());
    off += merges[i].size();
    const PairKey key{m.substr(0, split_at[i]), m.substr(split_at[i] + 1)};
    tok->ranks_.emplace(key, static_cast<int32_t>(std::min<size_t>(i, INT32_MAX)));
  }
  tok->init();
  return tok;
}

int32_t BpeTokenizer::pair_rank(std::string_view left, Token left_id, std::string_view right, Token right_id) const {
  if (left_id >= 0 && right_id >= 0) {
    const uint64_t key = id_pair_key(left_id, right_id);
    for (size_t k = id_slot(key, id_mask_);; k = (k + 1) & id_mask_) {
      const IdSlot& s = id_ranks_[k];
      if (s.key == key) return s.rank;
      if (s.key == ~0ull) return -1;
    }
  }
  if (ranks_.empty()) return -1;
  auto it = ranks_.find(PairKey{left, right});
  return it == ranks_.end() ? -1 : it->second;
}

int32_t BpeTokenizer::rank(std::string_view left, std::string_view right) const {
  return pair_rank(left, vocab_.find(left), right, vocab_.find(right));
}

std::string BpeTokenizer::compute_piece(Token t) const {
  const std::string_view text = vocab_.text(t);
  switch (vocab_.attr(t)) {
    case TokenAttr::kControl:
    case TokenAttr::kUnknown:
    case TokenAttr::kUserDefined:
      return std::string(text);
    case TokenAttr::kNormal: {
      std::string out;
      out.reserve(text.size());
      size_t i = 0;
      while (i < text.size()) {
        const size_t n = utf8_valid_len(text, i);
        uint8_t byte = 0;
        if (n > 0 && bpe_codepoint_to_byte(utf8_decode(text, i, n), &byte)) {
          out.push_back(static_cast<char>(byte));
        } else {
          // Not a byte-level character (llama.cpp writes "[UNK_BYTE_0x..]"): keep it as it is.
          out.append(text.data() + i, n == 0 ? 1 : n);
        }
        i += n == 0 ? 1 : n;
      }
      return out;
    }
    default:
      return std::string();  // byte, unused, undefined: llama.cpp's BPE prints nothing
  }
}

void BpeTokenizer::encode_fragment(std::string_view text, bool /*after_special*/, std::vector<Token>* out) const {
  std::string sanitized;
  if (!utf8_is_valid(text)) {
    sanitized = utf8_sanitize(text);
    text = sanitized;
  }
  std::vector<std::string_view> words;
  pre_->split(text, &words);
  Scratch scratch;
  for (std::string_view w : words) encode_word(w, &scratch, out);
}

void BpeTokenizer::encode_word(std::string_view word, Scratch* scratch, std::vector<Token>* out) const {
  // Each byte of the word is one symbol: its byte-level character.
  std::string& enc = scratch->enc;
  std::vector<Symbol>& syms = scratch->syms;
  std::vector<Bigram>& heap = scratch->heap;
  enc.clear();
  syms.clear();
  heap.clear();
  for (char c : word) {
    const uint8_t b = static_cast<uint8_t>(c);
    const std::string_view ch = bpe_byte_to_utf8(b);
    const int64_t i = static_cast<int64_t>(syms.size());
    syms.push_back(Symbol{i - 1, -1, enc.size(), ch.size(), byte_char_token_[b]});
    if (i > 0) syms[i - 1].next = i;
    enc.append(ch);
  }
  const std::string_view buf(enc);

  if (ignore_merges_) {
    const Token whole = vocab_.find(buf);
    if (whole >= 0) {
      out->push_back(whole);
      return;
    }
  }

  auto text_of = [&](const Symbol& s) { return buf.substr(s.start, s.len); };
  auto try_add = [&](int64_t l, int64_t r) {
    if (l < 0 || r < 0) return;
    const int32_t rk = pair_rank(text_of(syms[l]), syms[l].id, text_of(syms[r]), syms[r].id);
    if (rk < 0) return;
    heap.push_back(Bigram{rk, l, r, syms[l].len + syms[r].len});
    std::push_heap(heap.begin(), heap.end(), BigramLess());
  };
  for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int64_t>(i - 1), static_cast<int64_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramLess());
    const Bigram b = heap.back();
    heap.pop_back();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // stale
    l.len = b.len;
    l.id = vocab_.find(text_of(l));
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int64_t i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) {
    if (syms[i].id >= 0) {
      out->push_back(syms[i].id);
      continue;
    }
    // Not a token: the tokens of its single bytes, where they exist (as llama.cpp).
    for (char c : text_of(syms[i])) {
      const Token bt = vocab_.find(std::string_view(&c, 1));
      if (bt >= 0) out->push_back(bt);
    }
  }
}

}  // namespace mnemo::tokenizer
