// mnemo/longctx.h: synthetic long-range recall inside natural text. The training data of the
// long-context model (`mnemo gen-longctx`, docs/TRAINING.md) and the prompts of the passkey test
// (`mnemo eval passkey`, mnemo/passkey.h) are built from the same lines, so that what the model
// was trained on is what it is tested on.
//
// Items (the passkey is Mohtashami & Jaggi's, "Landmark Attention", 2023, as used by LongLoRA and
// the KV-eviction papers; the key-value list is associative recall as in Zoology/MQAR):
//   needle      "The pass key is 71432. Remember it. 71432 is the pass key."
//   question    "What is the pass key? The pass key is 71432."       (always the last line)
//   kv list     "Remember these keys and values." then lines "kav: 4821"
//   kv query    "What is kav? kav: 4821"
// A document is lines joined by "\n" (no blank line inside: the trainer's "blank" split keeps it
// whole), filler lines from text (TinyStories stories, Shakespeare speeches) or the built-in filler
// line, items inserted between filler lines at random depths, and exactly `doc_tokens` tokens as the
// trainer tokenizes it (dummy prefix, no BOS): with doc_tokens = seq_len - 1 every document and its
// BOS fill one training row, so a needle and its questions are always in the same row.
//
// Determinism: the output depends only on the sources, the parameters and the seed (splitmix64;
// no std:: distributions, whose results differ between standard libraries).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

// The item texts, shared by the generator and the passkey test.
std::string passkey_needle(std::string_view key);
std::string_view passkey_question();            // "What is the pass key? The pass key is"
std::string passkey_query(std::string_view key);  // passkey_question() + " " + key + "."
std::string_view kv_list_header();
std::string kv_pair_line(std::string_view key, std::string_view value);
std::string kv_query_line(std::string_view key, std::string_view value);
// Mohtashami & Jaggi's filler: "The grass is green. The sky is blue. The sun is yellow. Here we go.
// There and back again."
std::string_view builtin_filler_line();

// Deterministic 64-bit generator (splitmix64).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n);            // uniform in [0, n), n > 0
  int64_t range(int64_t lo, int64_t hi);  // uniform in [lo, hi]
  double uniform();                        // [0, 1)

 private:
  uint64_t state_;
};

// A decimal key of `digits` digits without a leading zero.
std::string random_digits(SplitMix64& rng, int digits);

// The tokens of one line of a document as the whole document's encoding holds them: the first line
// with the tokenizer's dummy prefix, later ones as they follow a "\n" (whose token is not included).
// SentencePiece vocabularies without a piece containing "\n" make the newline a barrier, so a
// document's tokens are its lines' tokens joined by the newline token; encode_line checks this.
class LineEncoder {
 public:
  static Expected<LineEncoder> create(const Tokenizer& tok);
  std::vector<Token> encode(std::string_view line, bool first) const;
  Token newline() const { return newline_; }
  const Tokenizer& tokenizer() const { return *tok_; }

 private:
  const Tokenizer* tok_ = nullptr;
  std::vector<Token> nl_prefix_;  // encode("\n"): the dummy prefix's tokens, then the newline
  Token newline_ = -1;
};

// Filler text: stories (each a list of non-empty lines; files cut at empty lines) and the
// non-empty lines of a play (speeches start at a line ending in ':').
struct LongCtxSources {
  std::vector<std::vector<std::string>> stories;
  std::vector<std::string> play_lines;
};

// Reads story files (blank-line separated) and optionally a play, keeping its lines in
// [play_from, play_to) (fractions of its non-empty lines: a train/validation split).
Expected<LongCtxSources> load_longctx_sources(const std::vector<std::string>& story_files, const std::string& play_file,
                                              double play_from, double play_to);

struct LongCtxParams {
  int64_t doc_tokens = 2047;     // tokens per document (seq_len - 1)
  uint64_t seed = 1;
  double builtin_filler = 0.3;   // fraction of documents filled with builtin_filler_line(): its loss
                                 // soon vanishes, so their gradient is mostly the recall's
  double play_fraction = 0.3;    // in the others, the fraction of filler units from the play
  int kv_pairs_min = 6, kv_pairs_max = 14;
  int kv_queries_min = 4, kv_queries_max = 12;
  int passkey_extra_queries_min = 1, passkey_extra_queries_max = 3;  // between the needle and the last line
  // Drill documents: several short kv lists, each asked for within a few filler lines, so that the
  // copying mechanism is learned at short range before it has to find an item 2,000 tokens back.
  double drill = 0.3;
  int drill_lists_min = 3, drill_lists_max = 6;
  int drill_pairs_min = 3, drill_pairs_max = 6;
  int drill_queries_min = 2, drill_queries_max = 4;
  int64_t drill_window = 3;     // filler lines between a list and its last question, at most
  int passkey_digits = 5;
  int value_digits = 4;
};

enum class LongCtxItemKind { kPasskeyNeedle, kPasskeyQuery, kKvList, kKvQuery };
const char* to_string(LongCtxItemKind k);

struct LongCtxItem {
  LongCtxItemKind kind;
  int64_t line = 0;          // index into LongCtxDoc::lines (a kv list: its header line)
  int64_t token_offset = 0;  // the line's first token in the document's tokens (no BOS)
  std::string key;           // the passkey, or the kv key
  std::string value;         // the kv value (empty for the passkey)
};

struct LongCtxDoc {
  std::vector<std::string> lines;
  std::vector<LongCtxItem> items;
  int64_t n_tokens = 0;      // tokens of the joined lines, as the trainer encodes them
  bool builtin_filler = false;
  std::string text() const;  // lines joined by "\n"
};

class LongCtxGenerator {
 public:
  // Errors: no stories and no built-in filler, parameters out of range, a tokenizer whose newline is
  // not a barrier (see LineEncoder).
  static Expected<std::unique_ptr<LongCtxGenerator>> create(const Tokenizer& tok, LongCtxSources sources,
                                                            const LongCtxParams& params);
  ~LongCtxGenerator();
  // The next document (the n-th call gives the same document for the same sources and parameters).
  Expected<LongCtxDoc> next();

 private:
  struct Impl;
  explicit LongCtxGenerator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes documents separated by an empty line (the trainer's "blank" split), atomically.
Status write_longctx_text(const std::string& path, std::span<const LongCtxDoc> docs);
// Writes one JSON line per document, atomically: {"doc", "tokens", "lines", "builtin_filler",
// "items": [{"kind", "line", "token", "key", "value"}]} (token: the item line's first token, no BOS).
Status write_longctx_index(const std::string& path, std::span<const LongCtxDoc> docs);

}  // namespace mnemo
