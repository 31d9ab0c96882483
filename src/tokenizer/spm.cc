#include "tokenizer/spm.h"

#include <algorithm>
#include <cstdint>

#include "tokenizer/utf8.h"

namespace mnemo::tokenizer {

namespace {

// One symbol of the text being merged: bytes [start, start+len) of the work buffer, linked to its
// neighbours. len == 0 marks a symbol merged into its left neighbour.
struct Symbol {
  int64_t prev;
  int64_t next;
  size_t start;
  size_t len;
  Token id;  // the token whose text this symbol is, or -1 (llama.cpp flavour: not a token)
};

struct Bigram {
  float score;
  int64_t left;
  int64_t right;
  size_t len;
  Token id;
};

// Max-heap order: higher score first, then the leftmost pair.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// Merges the symbols [begin, end) among themselves (linking them first), the best-scoring pair
// first. `heap` is scratch space.
void merge_range(const Vocab& vocab, std::string_view buf, std::vector<Symbol>* symbols, int64_t begin, int64_t end,
                 bool llama2c, std::vector<Bigram>* heap_storage) {
  std::vector<Symbol>& syms = *symbols;
  std::vector<Bigram>& heap = *heap_storage;
  heap.clear();
  for (int64_t i = begin; i < end; ++i) {
    syms[i].prev = i > begin ? i - 1 : -1;
    syms[i].next = i + 1 < end ? i + 1 : -1;
  }
  auto try_add = [&](int64_t l, int64_t r) {
    if (l < 0 || r < 0) return;
    const size_t len = syms[l].len + syms[r].len;
    const Token id = vocab.find(buf.substr(syms[l].start, len));
    if (id < 0) return;
    const float score = vocab.score(id);
    // run.c starts its search for the best pair at -1e10 and only takes strictly better ones.
    if (llama2c && !(score > -1e10f)) return;
    heap.push_back(Bigram{score, l, r, len, id});
    std::push_heap(heap.begin(), heap.end(), BigramLess());
  };
  for (int64_t i = begin + 1; i < end; ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramLess());
    const Bigram b = heap.back();
    heap.pop_back();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    // Stale: one side was merged since the pair was queued (symbols only grow or vanish).
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
    l.len = b.len;
    l.id = b.id;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
}

std::string trim_ascii_space(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab, SpecialIds ids, VocabFlags flags, SpmFlavor flavor)
    : VocabTokenizer(std::move(vocab), ids, flags), flavor_(flavor) {
  static const char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[6] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    Token t = vocab_.find(std::string_view(name, 6));
    if (t < 0) {
      const char one = static_cast<char>(b);
      t = vocab_.find(std::string_view(&one, 1));
    }
    if (t < 0 && vocab_.contains(ids_.unk) && !vocab_.text(ids_.unk).empty()) t = ids_.unk;
    byte_token_[b] = t;
  }

  // The symbol a newline becomes is a barrier when no other token contains its text.
  std::string nl = "\n";
  if (flavor_ == SpmFlavor::kLlama2c && vocab_.find("\n") < 0) {
    nl = byte_token_[0x0A] >= 0 ? std::string(vocab_.text(byte_token_[0x0A])) : std::string();
  }
  for (Token t = 0; t < vocab_.size() && !nl.empty(); ++t) {
    const std::string_view text = vocab_.text(t);
    if (text != nl && text.find(nl) != std::string_view::npos) nl.clear();
  }
  barrier_text_ = nl;
}

std::unique_ptr<SpmTokenizer> SpmTokenizer::create(Vocab vocab, SpecialIds ids, VocabFlags flags, SpmFlavor flavor) {
  std::unique_ptr<SpmTokenizer> tok(new SpmTokenizer(std::move(vocab), ids, flags, flavor));
  tok->init();
  return tok;
}

std::string SpmTokenizer::compute_piece(Token t) const {
  const std::string_view text = vocab_.text(t);
  const TokenAttr a = vocab_.attr(t);
  uint8_t byte = 0;
  if (a == TokenAttr::kByte && parse_byte_token(text, &byte)) return std::string(1, static_cast<char>(byte));
  if (flavor_ == SpmFlavor::kLlama2c) return std::string(text);
  switch (a) {
    case TokenAttr::kControl:
    case TokenAttr::kUnknown:
    case TokenAttr::kUserDefined:
      return std::string(text);
    case TokenAttr::kNormal: {
      std::string out;
      out.reserve(text.size());
      size_t i = 0;
      while (i < text.size()) {
        if (text.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
          out.push_back(' ');
          i += kSpmSpace.size();
        } else {
          out.push_back(text[i++]);
        }
      }
      return out;
    }
    default:
      return std::string();  // unused, undefined (llama.cpp prints nothing for them)
  }
}

std::string SpmTokenizer::special_match_text(Token t) const {
  // tokenizer.bin stores "\n<s>\n" for BOS; "<s>" is what a prompt would contain.
  if (flavor_ == SpmFlavor::kLlama2c) return trim_ascii_space(vocab_.text(t));
  return std::string(vocab_.text(t));
}

// The work buffer (at most 3 bytes per byte: a space becomes "▁"), one Symbol per byte, the
// bigram heap of the longest stretch between barriers (at most one entry per symbol of it), and
// the result (at most one token per byte). Measured peak: ~44 B/byte on English text.
uint64_t SpmTokenizer::encode_work_bytes(std::string_view text) const {
  uint64_t longest = text.size();
  if (!barrier_text_.empty() && barrier_text_.find(' ') == std::string::npos) {
    longest = 0;
    for (size_t at = 0; at <= text.size();) {
      size_t next = text.find(barrier_text_, at);
      if (next == std::string_view::npos) next = text.size();
      longest = std::max<uint64_t>(longest, next - at);
      at = next + barrier_text_.size();
    }
  }
  const uint64_t n = text.size() + 8;
  return n * (3 + sizeof(Symbol) + sizeof(Token)) + (longest + 8) * 3 * sizeof(Bigram);
}

void SpmTokenizer::encode_fragment(std::string_view text, bool after_special, std::vector<Token>* out) const {
  const bool prefix = flags_.add_space_prefix && after_special;
  std::string buf;
  std::vector<Symbol> syms;

  if (flavor_ == SpmFlavor::kLlama2c) {
    buf.reserve(text.size() + 8);
    syms.reserve(text.size() + 1);
    auto push_token = [&](Token id) {
      const std::string_view s = vocab_.text(id);
      syms.push_back(Symbol{0, 0, buf.size(), s.size(), id});
      buf.append(s);
    };
    auto add_char = [&](std::string_view c) {
      const Token id = vocab_.find(c);
      if (id >= 0) {
        push_token(id);
        return;
      }
      for (char ch : c) {
        const Token bt = byte_token_[static_cast<uint8_t>(ch)];
        if (bt >= 0) push_token(bt);
      }
    };
    if (prefix) add_char(" ");
    size_t i = 0;
    while (i < text.size()) {
      const size_t start = i++;
      while (i < text.size() && (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80 && i - start < 4) ++i;
      add_char(text.substr(start, i - start));
    }
  } else {
    buf.reserve(text.size() + text.size() / 2 + 3);
    if (prefix) buf.append(kSpmSpace);
    for (char c : text) {
      if (c == ' ') {
        buf.append(kSpmSpace);
      } else {
        buf.push_back(c);
      }
    }
    syms.reserve(buf.size());
    size_t i = 0;
    while (i < buf.size()) {
      const size_t n = std::min(utf8_seq_len_lead(static_cast<uint8_t>(buf[i])), buf.size() - i);
      syms.push_back(Symbol{0, 0, i, n, vocab_.find(std::string_view(buf).substr(i, n))});
      i += n;
    }
  }
  if (syms.empty()) return;

  // A barrier symbol never merges, so the stretches between barriers are merged one by one: the
  // same result as one global queue, with small queues that stay in cache.
  std::vector<Bigram> heap;
  const bool llama2c = flavor_ == SpmFlavor::kLlama2c;
  const int64_t n = static_cast<int64_t>(syms.size());
  int64_t begin = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool barrier = !barrier_text_.empty() && syms[i].len == barrier_text_.size() &&
                         std::string_view(buf).substr(syms[i].start, syms[i].len) == barrier_text_;
    if (!barrier && i + 1 < n) continue;
    merge_range(vocab_, buf, &syms, begin, i + 1, llama2c, &heap);
    for (int64_t k = begin; k != -1; k = syms[k].next) {
      const Symbol& s = syms[k];
      if (s.id >= 0) {
        out->push_back(s.id);
        continue;
      }
      for (size_t j = 0; j < s.len; ++j) {
        const Token bt = byte_token_[static_cast<uint8_t>(buf[s.start + j])];
        if (bt >= 0) out->push_back(bt);
      }
    }
    begin = i + 1;
  }
}

}  // namespace mnemo::tokenizer
