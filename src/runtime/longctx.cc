// Synthetic long-range recall in natural text (mnemo/longctx.h).
#include "mnemo/longctx.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/file.h"
#include "mnemo/util.h"

namespace mnemo {

std::string passkey_needle(std::string_view key) {
  const std::string k(key);
  return "The pass key is " + k + ". Remember it. " + k + " is the pass key.";
}
std::string_view passkey_question() { return "What is the pass key? The pass key is"; }
std::string passkey_query(std::string_view key) { return std::string(passkey_question()) + " " + std::string(key) + "."; }
std::string_view kv_list_header() { return "Remember these keys and values."; }
std::string kv_pair_line(std::string_view key, std::string_view value) {
  return std::string(key) + ": " + std::string(value);
}
std::string kv_query_line(std::string_view key, std::string_view value) {
  return "What is " + std::string(key) + "? " + std::string(key) + ": " + std::string(value);
}
std::string_view builtin_filler_line() {
  return "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
}

const char* to_string(LongCtxItemKind k) {
  switch (k) {
    case LongCtxItemKind::kPasskeyNeedle: return "passkey_needle";
    case LongCtxItemKind::kPasskeyQuery: return "passkey_query";
    case LongCtxItemKind::kKvList: return "kv_list";
    case LongCtxItemKind::kKvQuery: return "kv_query";
  }
  return "?";
}

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t SplitMix64::below(uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
}
int64_t SplitMix64::range(int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
}
double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::string random_digits(SplitMix64& rng, int digits) {
  std::string s;
  for (int i = 0; i < digits; ++i) s.push_back(static_cast<char>('0' + (i == 0 ? 1 + rng.below(9) : rng.below(10))));
  return s;
}

// ---- LineEncoder ----

Expected<LineEncoder> LineEncoder::create(const Tokenizer& tok) {
  LineEncoder e;
  e.tok_ = &tok;
  e.nl_prefix_ = tok.encode("\n", false);
  if (e.nl_prefix_.empty()) return unsupported("tokenizer: expected a token for \"\\n\", found none");
  e.newline_ = e.nl_prefix_.back();
  // The newline must be a barrier: a document's tokens are its lines' tokens joined by it.
  static const char* kProbe[][2] = {{"Once upon a time.", "The pass key is 71432."}, {"kav: 4821", "What is kav?"}};
  for (const auto& p : kProbe) {
    std::vector<Token> joined = e.encode(p[0], true);
    joined.push_back(e.newline_);
    const std::vector<Token> second = e.encode(p[1], false);
    joined.insert(joined.end(), second.begin(), second.end());
    if (joined != tok.encode(std::string(p[0]) + "\n" + p[1], false)) {
      return unsupported("tokenizer: expected a vocabulary in which \"\\n\" is a token that never merges with its "
                         "neighbours (SentencePiece with byte fallback, e.g. tok512.bin), found one where it does");
    }
  }
  return e;
}

std::vector<Token> LineEncoder::encode(std::string_view line, bool first) const {
  if (first) return tok_->encode(line, false);
  std::string text(1, '\n');
  text.append(line.data(), line.size());
  std::vector<Token> t = tok_->encode(text, false);
  const size_t skip = std::min(nl_prefix_.size(), t.size());
  return std::vector<Token>(t.begin() + static_cast<std::ptrdiff_t>(skip), t.end());
}

// ---- sources ----

namespace {

std::string_view strip(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f(line) for every line of text (without its "\n").
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    f(text.substr(pos, eol - pos));
    pos = eol + 1;
  }
}

}  // namespace

Expected<LongCtxSources> load_longctx_sources(const std::vector<std::string>& story_files, const std::string& play_file,
                                              double play_from, double play_to) {
  if (!(play_from >= 0 && play_from < play_to && play_to <= 1)) {
    return invalid_argument(str_printf("play range: expected 0 <= from < to <= 1, found %g..%g", play_from, play_to));
  }
  LongCtxSources s;
  for (const std::string& path : story_files) {
    MNEMO_ASSIGN_OR_RETURN(const std::string text, read_text_file(path));
    std::vector<std::string> story;
    for_each_line(text, [&](std::string_view line) {
      line = strip(line);
      if (line.empty()) {
        if (!story.empty()) s.stories.push_back(std::move(story));
        story.clear();
      } else {
        story.emplace_back(line);
      }
    });
    if (!story.empty()) s.stories.push_back(std::move(story));
  }
  if (!play_file.empty()) {
    MNEMO_ASSIGN_OR_RETURN(const std::string text, read_text_file(play_file));
    std::vector<std::string> lines;
    for_each_line(text, [&](std::string_view line) {
      line = strip(line);
      if (!line.empty()) lines.emplace_back(line);
    });
    const auto n = static_cast<double>(lines.size());
    const auto b = static_cast<size_t>(std::floor(play_from * n)), e = static_cast<size_t>(std::floor(play_to * n));
    s.play_lines.assign(lines.begin() + static_cast<std::ptrdiff_t>(b), lines.begin() + static_cast<std::ptrdiff_t>(e));
    if (s.play_lines.empty()) return out_of_range(play_file + ": expected non-empty lines in the range, found none");
  }
  if (!story_files.empty() && s.stories.empty()) {
    return out_of_range(story_files.front() + ": expected stories (text separated by empty lines), found none");
  }
  return s;
}

std::string LongCtxDoc::text() const {
  std::string t;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) t.push_back('\n');
    t += lines[i];
  }
  return t;
}

Status write_longctx_text(const std::string& path, std::span<const LongCtxDoc> docs) {
  std::string out;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) out += "\n\n";
    out += docs[i].text();
  }
  out.push_back('\n');
  return write_file_atomic(path, out);
}

Status write_longctx_index(const std::string& path, std::span<const LongCtxDoc> docs) {
  std::string out;
  for (size_t i = 0; i < docs.size(); ++i) {
    const LongCtxDoc& d = docs[i];
    out += str_printf("{\"doc\": %zu, \"tokens\": %lld, \"lines\": %zu, \"builtin_filler\": %s, \"items\": [", i,
                      static_cast<long long>(d.n_tokens), d.lines.size(), d.builtin_filler ? "true" : "false");
    for (size_t k = 0; k < d.items.size(); ++k) {
      const LongCtxItem& it = d.items[k];  // keys are lowercase letters, values digits: no escaping
      out += str_printf("%s{\"kind\": \"%s\", \"line\": %lld, \"token\": %lld, \"key\": \"%s\", \"value\": \"%s\"}",
                        k > 0 ? ", " : "", to_string(it.kind), static_cast<long long>(it.line),
                        static_cast<long long>(it.token_offset), it.key.c_str(), it.value.c_str());
    }
    out += "]}\n";
  }
  return write_file_atomic(path, out);
}

// ---- the generator ----

struct LongCtxGenerator::Impl {
  const Tokenizer* tok = nullptr;
  LineEncoder enc;
  LongCtxSources src;
  LongCtxParams p;
  SplitMix64 rng{0};
  std::vector<uint32_t> story_order;
  size_t story_cursor = 0;

  // One block of lines placed together at one slot between filler lines.
  struct Block {
    std::vector<std::string> lines;
    LongCtxItem item;  // line/token_offset filled in at assembly
    int64_t slot = 0;
    bool is_query = false;
    int group = 0;       // a kv list and its questions share a group
  };

  void shuffle_stories() {
    for (size_t i = story_order.size(); i > 1; --i) std::swap(story_order[i - 1], story_order[rng.below(i)]);
    story_cursor = 0;
  }

  // The next unit of filler: a story, or a few speeches of the play.
  std::vector<std::string> next_unit(bool builtin) {
    if (builtin) return {std::string(builtin_filler_line())};
    const bool play = !src.play_lines.empty() && (src.stories.empty() || rng.uniform() < p.play_fraction);
    if (play) {
      const size_t n = src.play_lines.size();
      size_t start = rng.below(n);
      size_t j = start;
      while (j < n && src.play_lines[j].back() != ':') ++j;  // a speaker's name starts a speech
      if (j >= n) j = 0;
      const size_t len = static_cast<size_t>(rng.range(4, 16));
      return std::vector<std::string>(src.play_lines.begin() + static_cast<std::ptrdiff_t>(j),
                                      src.play_lines.begin() + static_cast<std::ptrdiff_t>(std::min(n, j + len)));
    }
    if (story_cursor >= story_order.size()) shuffle_stories();
    return src.stories[story_order[story_cursor++]];
  }

  // n keys (consonant-vowel-consonant) not in *used, which receives them.
  std::vector<std::string> distinct_keys(int n, std::vector<std::string>& used) {
    static const char kC[] = "bcdfghjklmnprstvwz";
    static const char kV[] = "aeiou";
    std::vector<std::string> keys;
    while (static_cast<int>(keys.size()) < n) {
      std::string k{kC[rng.below(sizeof(kC) - 1)], kV[rng.below(sizeof(kV) - 1)], kC[rng.below(sizeof(kC) - 1)]};
      if (std::find(used.begin(), used.end(), k) == used.end()) {
        keys.push_back(k);
        used.push_back(k);
      }
    }
    return keys;
  }

  int64_t cost(std::string_view line, bool first) const {
    return static_cast<int64_t>(enc.encode(line, first).size()) + (first ? 0 : 1);
  }

  // The longest prefix of `line` (ending at no space) that encodes to exactly n tokens, or "" .
  std::string truncate_to(const std::string& line, bool first, int64_t n) const {
    const std::vector<Token> t = enc.encode(line, first);
    if (n <= 0 || n > static_cast<int64_t>(t.size())) return {};
    size_t bytes = 0;
    for (int64_t i = 0; i < n; ++i) bytes += tok->piece(t[static_cast<size_t>(i)]).size();
    if (first && bytes > 0) --bytes;  // the dummy prefix
    bytes = std::min(bytes, line.size());
    // Search near the cut; the count changes by about one token per character.
    for (int delta = 0; delta <= 24; ++delta) {
      for (int sign : {-1, 1}) {
        const int64_t at = static_cast<int64_t>(bytes) + sign * delta;
        if (at <= 0 || at > static_cast<int64_t>(line.size())) continue;
        if (at < static_cast<int64_t>(line.size()) && (static_cast<uint8_t>(line[static_cast<size_t>(at)]) & 0xC0) == 0x80) {
          continue;  // inside a UTF-8 character
        }
        const std::string_view cut = strip(std::string_view(line).substr(0, static_cast<size_t>(at)));
        if (cut.empty() || cut.size() != static_cast<size_t>(at)) continue;
        if (static_cast<int64_t>(enc.encode(cut, first).size()) == n) return std::string(cut);
        if (delta == 0) break;
      }
    }
    return {};
  }

  std::vector<Block> make_items(bool drill, std::string* passkey) {
    std::vector<Block> blocks;
    std::vector<std::string> used_keys;
    *passkey = random_digits(rng, p.passkey_digits);
    Block needle;
    needle.lines = {passkey_needle(*passkey)};
    needle.item = {LongCtxItemKind::kPasskeyNeedle, 0, 0, *passkey, ""};
    blocks.push_back(needle);
    // One kv list in an ordinary document; in a drill document several short ones.
    const int n_lists = drill ? static_cast<int>(rng.range(p.drill_lists_min, p.drill_lists_max)) : 1;
    for (int g = 0; g < n_lists; ++g) {
      const int n_pairs = static_cast<int>(drill ? rng.range(p.drill_pairs_min, p.drill_pairs_max)
                                                 : rng.range(p.kv_pairs_min, p.kv_pairs_max));
      if (n_pairs <= 0) continue;
      const std::vector<std::string> keys = distinct_keys(n_pairs, used_keys);
      std::vector<std::string> values;
      Block list;
      list.group = g;
      list.lines.emplace_back(kv_list_header());
      for (const std::string& k : keys) {
        values.push_back(random_digits(rng, p.value_digits));
        list.lines.push_back(kv_pair_line(k, values.back()));
      }
      list.item = {LongCtxItemKind::kKvList, 0, 0, "", ""};
      blocks.push_back(list);
      std::vector<int> order(static_cast<size_t>(n_pairs));
      for (int i = 0; i < n_pairs; ++i) order[static_cast<size_t>(i)] = i;
      const int q_min = drill ? p.drill_queries_min : p.kv_queries_min;
      const int q_max = drill ? p.drill_queries_max : p.kv_queries_max;
      const int n_q = static_cast<int>(rng.range(std::min(q_min, n_pairs), std::min(q_max, n_pairs)));
      for (int i = 0; i < n_q; ++i) {
        std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(i) + rng.below(static_cast<uint64_t>(n_pairs - i))]);
        const auto& k = keys[static_cast<size_t>(order[static_cast<size_t>(i)])];
        const auto& v = values[static_cast<size_t>(order[static_cast<size_t>(i)])];
        Block q;
        q.lines = {kv_query_line(k, v)};
        q.item = {LongCtxItemKind::kKvQuery, 0, 0, k, v};
        q.is_query = true;
        q.group = g;
        blocks.push_back(q);
      }
    }
    const int extra = static_cast<int>(rng.range(p.passkey_extra_queries_min, p.passkey_extra_queries_max));
    for (int i = 0; i < extra; ++i) {
      Block q;
      q.lines = {passkey_query(*passkey)};
      q.item = {LongCtxItemKind::kPasskeyQuery, 0, 0, *passkey, ""};
      q.is_query = true;
      blocks.push_back(q);
    }
    return blocks;
  }

  // One try at a document; nullopt-like failure (false) when the exact length is not hit.
  bool try_doc(LongCtxDoc* doc) {
    const bool builtin = src.stories.empty() && src.play_lines.empty() ? true : rng.uniform() < p.builtin_filler;
    const bool drill = rng.uniform() < p.drill;
    std::string passkey;
    std::vector<Block> blocks = make_items(drill, &passkey);
    const std::string final_query = passkey_query(passkey);
    int64_t items_cost = cost(final_query, false);
    for (const Block& b : blocks) {
      for (const std::string& l : b.lines) items_cost += cost(l, false);
    }
    const int64_t budget = p.doc_tokens - items_cost;  // filler tokens, newlines included
    if (budget < 16) return false;

    // Filler lines until the budget is covered; the last one will be cut.
    std::vector<std::string> filler;
    std::vector<int64_t> cum{0};
    while (cum.back() < budget) {
      for (std::string& l : next_unit(builtin)) {
        if (cum.back() >= budget) break;
        cum.push_back(cum.back() + cost(l, false));
        filler.push_back(std::move(l));
      }
    }
    const auto F = static_cast<int64_t>(filler.size());
    auto at = [&](int64_t k) { return k == F ? static_cast<double>(budget) : static_cast<double>(cum[static_cast<size_t>(k)]); };
    auto slot_at = [&](double u) {  // the line boundary nearest to depth u of the filler
      const double target = u * static_cast<double>(budget);
      int64_t best = 0;
      for (int64_t k = 1; k <= F; ++k) {
        if (std::abs(at(k) - target) < std::abs(at(best) - target)) best = k;
      }
      return best;
    };
    // Slots: the needle anywhere; a kv list in the first 60% (drill: anywhere but the end), its
    // questions after it (drill: within drill_window filler lines).
    int64_t needle_slot = 0;
    std::vector<int64_t> list_slot;
    for (Block& b : blocks) {
      switch (b.item.kind) {
        case LongCtxItemKind::kPasskeyNeedle: b.slot = needle_slot = slot_at(rng.uniform()); break;
        case LongCtxItemKind::kKvList:
          b.slot = std::min<int64_t>(slot_at((drill ? 0.95 : 0.6) * rng.uniform()), F - 1);
          list_slot.resize(static_cast<size_t>(b.group) + 1, 0);
          list_slot[static_cast<size_t>(b.group)] = b.slot;
          break;
        case LongCtxItemKind::kPasskeyQuery: b.slot = needle_slot < F ? rng.range(needle_slot + 1, F) : -1; break;
        case LongCtxItemKind::kKvQuery: {
          const int64_t ls = list_slot[static_cast<size_t>(b.group)];
          const int64_t hi = drill ? std::min<int64_t>(F, ls + p.drill_window) : F;
          b.slot = ls < F ? rng.range(ls + 1, hi) : -1;
          break;
        }
      }
    }
    // Assemble: at each slot its questions, then its items, then the filler line.
    struct Placed {
      std::string text;
      int block = -1;  // index into blocks for a block's first line
    };
    std::vector<Placed> lines;
    int64_t cut_line = -1;
    for (int64_t k = 0; k <= F; ++k) {
      for (int pass = 0; pass < 2; ++pass) {
        for (size_t bi = 0; bi < blocks.size(); ++bi) {
          const Block& b = blocks[bi];
          if (b.slot != k || b.is_query != (pass == 0)) continue;
          for (size_t li = 0; li < b.lines.size(); ++li) lines.push_back({b.lines[li], li == 0 ? static_cast<int>(bi) : -1});
        }
      }
      if (k < F) {
        if (k == F - 1) cut_line = static_cast<int64_t>(lines.size());
        lines.push_back({filler[static_cast<size_t>(k)], -1});
      }
    }
    lines.push_back({final_query, -2});
    if (cut_line < 0) return false;

    // The cut line takes exactly what is left.
    int64_t others = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (static_cast<int64_t>(i) != cut_line) others += cost(lines[i].text, i == 0);
    }
    const bool cut_first = cut_line == 0;
    const int64_t room = p.doc_tokens - others - (cut_first ? 0 : 1);
    const std::string cut = truncate_to(lines[static_cast<size_t>(cut_line)].text, cut_first, room);
    if (cut.empty()) return false;
    lines[static_cast<size_t>(cut_line)].text = cut;

    doc->lines.clear();
    doc->items.clear();
    doc->builtin_filler = builtin;
    int64_t offset = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      const int64_t first_token = offset + (i == 0 ? 0 : 1);
      if (lines[i].block >= 0 || lines[i].block == -2) {
        LongCtxItem it = lines[i].block == -2 ? LongCtxItem{LongCtxItemKind::kPasskeyQuery, 0, 0, passkey, ""}
                                              : blocks[static_cast<size_t>(lines[i].block)].item;
        it.line = static_cast<int64_t>(i);
        it.token_offset = first_token;
        doc->items.push_back(it);
      }
      offset += cost(lines[i].text, i == 0);
      doc->lines.push_back(std::move(lines[i].text));
    }
    doc->n_tokens = static_cast<int64_t>(tok->encode(doc->text(), false).size());
    return doc->n_tokens == p.doc_tokens && offset == p.doc_tokens;
  }
};

LongCtxGenerator::LongCtxGenerator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LongCtxGenerator::~LongCtxGenerator() = default;

Expected<std::unique_ptr<LongCtxGenerator>> LongCtxGenerator::create(const Tokenizer& tok, LongCtxSources sources,
                                                                     const LongCtxParams& params) {
  const LongCtxParams& p = params;
  if (p.doc_tokens < 256) {
    return out_of_range(str_printf("doc tokens: expected at least 256, found %lld", static_cast<long long>(p.doc_tokens)));
  }
  if (!(p.builtin_filler >= 0 && p.builtin_filler <= 1) || !(p.play_fraction >= 0 && p.play_fraction <= 1)) {
    return out_of_range("filler fractions: expected values in [0, 1]");
  }
  if (p.drill_lists_min < 0 || p.drill_lists_max < p.drill_lists_min || p.drill_pairs_min < 0 ||
      p.drill_pairs_max < p.drill_pairs_min || p.drill_queries_min < 0 || p.drill_queries_max < p.drill_queries_min ||
      p.drill_lists_max * p.drill_pairs_max > 64 || p.drill_window < 1 || !(p.drill >= 0 && p.drill <= 1)) {
    return out_of_range("drill: expected 0 <= min <= max, at most 64 pairs, a window of at least 1 line, a fraction in [0, 1]");
  }
  if (p.kv_pairs_min < 0 || p.kv_pairs_max < p.kv_pairs_min || p.kv_pairs_max > 64 || p.kv_queries_min < 0 ||
      p.kv_queries_max < p.kv_queries_min || p.passkey_extra_queries_min < 0 ||
      p.passkey_extra_queries_max < p.passkey_extra_queries_min || p.passkey_digits < 1 ||
      p.passkey_digits > 18 || p.value_digits < 1 || p.value_digits > 18) {
    return out_of_range("item counts: expected 0 <= min <= max (at most 64 pairs) and 1..18 digits");
  }
  if (sources.stories.empty() && sources.play_lines.empty() && p.builtin_filler < 1) {
    return invalid_argument("filler: expected story files or a play, or every document on the built-in filler, found none");
  }
  auto impl = std::make_unique<Impl>();
  impl->tok = &tok;
  MNEMO_ASSIGN_OR_RETURN(impl->enc, LineEncoder::create(tok));
  impl->src = std::move(sources);
  impl->p = p;
  impl->rng = SplitMix64(p.seed);
  impl->story_order.resize(impl->src.stories.size());
  for (size_t i = 0; i < impl->story_order.size(); ++i) impl->story_order[i] = static_cast<uint32_t>(i);
  impl->shuffle_stories();
  return std::unique_ptr<LongCtxGenerator>(new LongCtxGenerator(std::move(impl)));
}

Expected<LongCtxDoc> LongCtxGenerator::next() {
  LongCtxDoc doc;
  for (int attempt = 0; attempt < 32; ++attempt) {
    if (impl_->try_doc(&doc)) return doc;
  }
  return internal_error(str_printf("long-context generator: no document of exactly %lld tokens in 32 tries",
                                   static_cast<long long>(impl_->p.doc_tokens)));
}

}  // namespace mnemo
