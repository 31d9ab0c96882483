// formats/kv_session.h: a saved sequence (llama.cpp's --prompt-cache, llama_state_seq_save_file):
// the tokens of its text and its cached K/V rows, behind a header that names the model, the KV
// types and the KV policy, so that a file is only ever restored into a cache that reads it the same.
//
// Layout (little-endian):
//   "MNEMOKVS" | u32 version (1) | header fields (below; strings as u32 length + bytes)
//   | tokens: n_tokens x i32
//   | per layer: K rows [n_slots x row_bytes_k], V rows [n_slots x row_bytes_v], then, when
//     score_floats > 0, the policy's accumulated attention [score_floats x f32]
//   | SHA-256 of every byte before it (32 bytes)
// A file whose size disagrees with its header, or whose checksum fails, is refused before any row
// is handed to the caller; writes go through AtomicFileWriter (temporary, fsync, rename), so an
// interrupted save leaves the previous file whole.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "mnemo/status.h"

namespace mnemo {

struct KvSessionHeader {
  std::string model;           // the model's fingerprint (who computes it decides; compared as bytes)
  std::string type_k, type_v;  // KV types ("f32", "f16", "q8_0", "q4_0")
  std::string policy;          // KV policy ("full", "window", "sinks", "h2o", "kvmerger")
  int64_t budget = 0;          // the policy's slot budget (0: none)
  int64_t n_layer = 0;
  int64_t row_bytes_k = 0, row_bytes_v = 0;  // one slot's K (V) row of one layer
  int64_t n_slots = 0;         // cached slots
  int64_t n_pos = 0;           // position of the next token (n_slots unless the cache was compacted)
  int64_t score_floats = 0;    // per layer: accumulated attention values saved (0: none)
  std::vector<int32_t> tokens; // the sequence's text so far

  // Bytes of the rows of one layer (K, V and scores).
  uint64_t layer_bytes() const;
};

enum class KvRegion : int { kKeys = 0, kValues = 1, kScores = 2 };

// Where the rows of (layer, region) are, for saving: exactly the bytes that region holds.
using KvRowSource = std::function<std::span<const uint8_t>(int64_t layer, KvRegion region)>;

// Writes the session atomically. Errors: inconsistent header (negative counts, sizes that
// overflow, a source span of the wrong size), I/O.
Status save_kv_session(const std::string& path, const KvSessionHeader& header, const KvRowSource& rows);

class KvSessionReader {
 public:
  // Opens and checks the file: magic, version, header fields, size, checksum. Nothing is read
  // into the caller's memory yet.
  static Expected<KvSessionReader> open(const std::string& path);

  const KvSessionHeader& header() const { return header_; }
  // Copies the bytes of (layer, region) into dst (exactly their size).
  Status read(int64_t layer, KvRegion region, std::span<uint8_t> dst) const;

  KvSessionReader(KvSessionReader&& o) noexcept;
  KvSessionReader& operator=(KvSessionReader&& o) noexcept;
  KvSessionReader(const KvSessionReader&) = delete;
  ~KvSessionReader();

 private:
  KvSessionReader() = default;
  std::string path_;
  int fd_ = -1;
  KvSessionHeader header_;
  uint64_t rows_offset_ = 0;  // file offset of layer 0's K rows
};

}  // namespace mnemo
