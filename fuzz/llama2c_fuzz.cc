// libFuzzer target: llama2.c checkpoint parser on arbitrary bytes.
//
// Parses the input; on success checks the config against the header's promises and reads every
// byte of every view (embedding, each layer's nine tensors, final norm, classifier). On failure,
// checks the message names the file. Any crash, sanitizer report or failed check is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "formats/llama2c.h"
#include "fuzz_check.h"

namespace {

const char kName[] = "fuzz.bin";
volatile uint64_t g_sink = 0;

// Reads every byte of a view (as bytes: the input need not be float-aligned for this), after
// checking it lies inside the input.
uint64_t touch(const mnemo::TensorView& v, const uint8_t* data, size_t size) {
  FUZZ_CHECK(v.type == mnemo::DType::F32);
  FUZZ_CHECK(v.n_dims == 1 || v.n_dims == 2);
  const uint8_t* p = static_cast<const uint8_t*>(v.data);
  const uint64_t n = v.n_bytes();
  FUZZ_CHECK(p >= data && n <= size && static_cast<uint64_t>(p - data) <= size - n);
  uint64_t h = 0;
  for (uint64_t i = 0; i < n; ++i) h = h * 31 + p[i];
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = mnemo::llama2c::Checkpoint::parse(std::span<const uint8_t>(data, size), kName);
  if (!parsed.has_value()) {
    FUZZ_CHECK(parsed.status().message().rfind(std::string(kName) + ": ", 0) == 0);
    return 0;
  }
  const mnemo::llama2c::Checkpoint& c = **parsed;
  const mnemo::llama2c::Config& k = c.config();
  FUZZ_CHECK(k.dim > 0 && k.hidden_dim > 0 && k.n_layers > 0 && k.n_heads > 0 && k.n_kv_heads > 0);
  FUZZ_CHECK(k.vocab_size > 0 && k.seq_len > 0);
  FUZZ_CHECK(k.dim % k.n_heads == 0 && k.n_heads % k.n_kv_heads == 0);
  const int64_t kv_dim = static_cast<int64_t>(k.n_kv_heads) * (k.dim / k.n_heads);
  FUZZ_CHECK(c.token_embedding().is_matrix(k.dim, k.vocab_size));
  FUZZ_CHECK(c.classifier().is_matrix(k.dim, k.vocab_size));
  FUZZ_CHECK(c.final_norm().is_vector(k.dim));
  FUZZ_CHECK(k.shared_classifier == (c.classifier().data == c.token_embedding().data));
  uint64_t h = touch(c.token_embedding(), data, size) + touch(c.final_norm(), data, size) +
               touch(c.classifier(), data, size);
  for (int l = 0; l < k.n_layers; ++l) {
    const mnemo::llama2c::LayerViews& v = c.layer(l);
    FUZZ_CHECK(v.wk.is_matrix(k.dim, kv_dim) && v.wv.is_matrix(k.dim, kv_dim));
    FUZZ_CHECK(v.w2.is_matrix(k.hidden_dim, k.dim));
    for (const mnemo::TensorView* t : {&v.attn_norm, &v.wq, &v.wk, &v.wv, &v.wo, &v.ffn_norm, &v.w1, &v.w2, &v.w3}) {
      h += touch(*t, data, size);
    }
  }
  g_sink = g_sink + h;
  return 0;
}
