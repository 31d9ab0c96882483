// ltm/embedder.h: text -> unit-length vectors, pluggable.
//
// Three kinds, chosen by EmbedderConfig::kind:
//  - "hash" (HashEmbedder): no model. Features are word stems and character 3- and 4-grams of the
//    lowercased words (with word-boundary marks), weighted (1 + ln tf) * idf and hashed with a
//    sign into `dim` buckets (feature hashing, Weinberger et al. 2009), then L2-normalised. The
//    IDF comes from document frequencies of the features over the memories stored so far
//    (observe()), so vectors depend on the corpus: the service records the corpus size each
//    vector was made at and re-embeds those that are stale (see MemoryService::maintain).
//  - "http": any OpenAI-compatible POST /v1/embeddings endpoint (vectors re-normalised).
//  - "model": pooled hidden states of a mnemo model. The interface is ready; the inference core
//    is not, so creating one fails with kUnsupported for now.
//
// Thread-safety: embed() may run concurrently with itself and with observe().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/memory.h"
#include "mnemo/status.h"

namespace mnemo::ltm {

using Vector = std::vector<float>;

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual int dim() const = 0;
  // Identifies the vector space ("hash-1024", "http:<model>"): stored with index files, which are
  // rebuilt when it changes.
  virtual std::string name() const = 0;
  // (texts.size(), dim()) unit vectors (a zero vector for a text without features).
  virtual Expected<std::vector<Vector>> embed(const std::vector<std::string>& texts) = 0;
  // Corpus statistics (IDF): a document entered (+1) or left (-1) the store.
  virtual void observe(std::string_view text, int delta) {}
  // Documents observed; 0 for embedders whose vectors do not depend on the corpus.
  virtual uint64_t corpus_size() const { return 0; }
};

class HashEmbedder final : public Embedder {
 public:
  static constexpr int kDfBits = 20;  // DF counters: 2^20 buckets of the 64-bit feature hash

  explicit HashEmbedder(int dim);
  int dim() const override { return dim_; }
  std::string name() const override;
  Expected<std::vector<Vector>> embed(const std::vector<std::string>& texts) override;
  void observe(std::string_view text, int delta) override;
  uint64_t corpus_size() const override { return n_docs_.load(std::memory_order_relaxed); }

  Vector embed_one(std::string_view text) const;

  struct Feature {
    uint64_t hash;
    float tf;  // weighted count in the text
  };
  // Distinct features of a text with their weighted counts.
  static std::vector<Feature> features(std::string_view text);

 private:
  double idf(uint64_t hash) const;

  int dim_;
  std::vector<std::atomic<uint32_t>> df_;
  std::atomic<uint64_t> n_docs_{0};
};

// The embedder of a configuration (kind "hash", "http" or "model"). An http embedder is probed
// once, so a wrong URL or dimension fails here rather than on the first add.
Expected<std::unique_ptr<Embedder>> make_embedder(const EmbedderConfig& config);

// Dot product of two vectors of the same length.
float dot(const float* a, const float* b, size_t n);
void normalize(Vector& v);

}  // namespace mnemo::ltm
