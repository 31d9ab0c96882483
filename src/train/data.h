// train/data.h: token files (what `mnemo tokenize` writes, like llm.c's shards) and the loader
// that packs them into training batches.
//
// Token file, little-endian:
//   char magic[8] "MNEMOTOK" | u32 version (1) | u32 token_bytes (2 or 4) | u32 n_vocab |
//   i32 bos (-1: none) | u64 n_tokens | u64 n_docs | 24 zero bytes            (64 bytes)
//   u64 doc_start[n_docs + 1]  (doc_start[0] = 0, increasing, doc_start[n_docs] = n_tokens)
//   tokens[n_tokens]           (u16 when token_bytes == 2, else u32)
// Documents are stored without BOS; the loader puts BOS in front of each one when packing.
//
// Loader: an endless stream, epoch after epoch, of BOS doc BOS doc ... with the documents of epoch
// e in the order of a Fisher-Yates shuffle seeded by (seed, e) (or in file order without
// shuffling). Each batch is the next B*T + 1 tokens of the stream: row b's inputs are
// buf[b*T .. b*T+T) and its targets buf[b*T+1 .. b*T+T+1); the last token of one batch is the
// first of the next (as llm.c's loader). The order depends only on the seed, and the position
// (epoch, document, offset, carried token) is saved in checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo::train {

struct TokenData {
  std::vector<int32_t> tokens;
  std::vector<int64_t> doc_start = {0};  // n_docs + 1 entries
  int32_t n_vocab = 0;
  int32_t bos = -1;

  int64_t n_docs() const { return static_cast<int64_t>(doc_start.size()) - 1; }
  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
  // Appends another file's documents (same vocabulary).
  void append(const TokenData& other);
};

inline constexpr char kTokenMagic[8] = {'M', 'N', 'E', 'M', 'O', 'T', 'O', 'K'};
inline constexpr uint64_t kTokenHeaderBytes = 64;

// How a text file is cut into documents: "blank" (paragraphs separated by empty lines, the
// TinyStories layout), "line" (one document per line), "none" (the whole file).
Status check_split(const std::string& split, const std::string& subject);

// Tokenizes text files into documents (each stripped of surrounding whitespace, empty ones
// dropped, encoded without BOS).
Expected<TokenData> tokenize_text(const std::vector<std::string>& paths, const Tokenizer& tok,
                                  const std::string& split);

// Writes atomically.
Status write_token_file(const std::string& path, const TokenData& data);

struct TokenFileInfo {
  uint32_t token_bytes = 0;
  int32_t n_vocab = 0;
  int32_t bos = -1;
  uint64_t n_tokens = 0;
  uint64_t n_docs = 0;
};
// The header alone (checked against the file size).
Expected<TokenFileInfo> read_token_header(const std::string& path);

// Reads and validates a token file: every id must be below model_vocab (the model's vocabulary),
// and the file's own n_vocab must not exceed it. Errors name the file, the offset and the id.
Expected<TokenData> read_token_file(const std::string& path, int64_t model_vocab);

// Reads a token file, or tokenizes a text file (any other file), for training.
Expected<TokenData> load_training_data(const std::vector<std::string>& paths, const Tokenizer* tok,
                                       const std::string& split, int64_t model_vocab);
bool is_token_file(const std::string& path);

class DataLoader {
 public:
  struct State {
    int64_t epoch = 0;
    int64_t cursor = 0;   // index into the epoch's document order
    int64_t offset = -1;  // token within the document; -1: its BOS comes next
    int32_t carry = -1;   // the last token of the previous batch
    bool has_carry = false;
  };

  // data must outlive the loader and hold at least one document.
  DataLoader(const TokenData* data, int64_t B, int64_t T, bool shuffle, uint64_t seed);

  // Writes the next B*T + 1 tokens into buf.
  void next(int32_t* buf);

  const State& state() const { return st_; }
  // kCorrupt when the state does not fit the data.
  Status set_state(const State& s);
  int64_t batch_tokens() const { return B_ * T_ + 1; }

 private:
  int32_t take();
  void start_epoch();

  const TokenData* data_;
  int64_t B_, T_;
  bool shuffle_;
  uint64_t seed_;
  State st_;
  std::vector<int64_t> order_;  // document order of the current epoch
};

}  // namespace mnemo::train
