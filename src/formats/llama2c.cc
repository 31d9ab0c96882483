// llama2.c legacy checkpoints: header validation, exact size check, views into the mapping.
#include "formats/llama2c.h"

#include <cstring>

#include "base/byte_reader.h"
#include "base/check.h"

namespace mnemo::llama2c {

namespace {

constexpr uint64_t kHeaderBytes = 7 * sizeof(int32_t);
// The version 1+ exports of llama2.c's export.py start with this magic ("ak42" as a LE uint32).
constexpr uint32_t kNewExportMagic = 0x616b3432;

std::string u64s(uint64_t v) { return std::to_string(v); }

struct Bound {
  const char* field;
  int32_t value;
  int32_t max;
};

// Float counts of the sections, in file order (see llama2c.h).
struct Sections {
  uint64_t tok_emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis, wcls;
};

Sections sections(const Config& c) {
  const uint64_t dim = static_cast<uint64_t>(c.dim), hidden = static_cast<uint64_t>(c.hidden_dim);
  const uint64_t layers = static_cast<uint64_t>(c.n_layers), vocab = static_cast<uint64_t>(c.vocab_size);
  const uint64_t head_size = dim / static_cast<uint64_t>(c.n_heads);
  const uint64_t q_dim = static_cast<uint64_t>(c.n_heads) * head_size;
  const uint64_t kv_dim = static_cast<uint64_t>(c.n_kv_heads) * head_size;
  Sections s;
  s.tok_emb = vocab * dim;
  s.rms_att = layers * dim;
  s.wq = layers * dim * q_dim;
  s.wk = layers * dim * kv_dim;
  s.wv = layers * dim * kv_dim;
  s.wo = layers * q_dim * dim;
  s.rms_ffn = layers * dim;
  s.w1 = layers * dim * hidden;
  s.w2 = layers * hidden * dim;
  s.w3 = layers * dim * hidden;
  s.rms_final = dim;
  s.freq_cis = 2 * (static_cast<uint64_t>(c.seq_len) * head_size / 2);  // real and imag, unused
  s.wcls = c.shared_classifier ? 0 : vocab * dim;
  return s;
}

// Bytes the header implies, without and with the separate classifier. With the limits below
// every product stays far below 2^64 (at most about 2^61 floats).
uint64_t weights_floats(const Sections& s) {
  return s.tok_emb + s.rms_att + s.wq + s.wk + s.wv + s.wo + s.rms_ffn + s.w1 + s.w2 + s.w3 + s.rms_final +
         s.freq_cis;
}

std::string describe(const Config& c) {
  return "dim=" + std::to_string(c.dim) + " hidden_dim=" + std::to_string(c.hidden_dim) +
         " n_layers=" + std::to_string(c.n_layers) + " n_heads=" + std::to_string(c.n_heads) +
         " n_kv_heads=" + std::to_string(c.n_kv_heads) + " vocab_size=" + std::to_string(c.vocab_size) +
         " seq_len=" + std::to_string(c.seq_len);
}

TensorView f32_view(const float* data, int64_t ne0, int64_t ne1 = 0) {
  TensorView v;
  v.type = DType::F32;
  v.n_dims = ne1 == 0 ? 1 : 2;
  v.ne[0] = ne0;
  v.ne[1] = ne1 == 0 ? 1 : ne1;
  v.data = data;
  return v;
}

}  // namespace

Expected<std::unique_ptr<Checkpoint>> Checkpoint::open(const std::string& path, MapMode mode) {
  auto ckpt = std::make_unique<Checkpoint>();
  MNEMO_ASSIGN_OR_RETURN(ckpt->file_, FileBytes::open(path, mode));
  ckpt->name_ = path;
  ckpt->bytes_ = ckpt->file_.bytes();
  MNEMO_RETURN_IF_ERROR(ckpt->parse_all());
  return ckpt;
}

Expected<std::unique_ptr<Checkpoint>> Checkpoint::parse(std::span<const uint8_t> bytes, const std::string& name) {
  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->name_ = name;
  ckpt->bytes_ = bytes;
  MNEMO_RETURN_IF_ERROR(ckpt->parse_all());
  return ckpt;
}

Status Checkpoint::parse_all() {
  ByteReader r(bytes_);
  int32_t h[7] = {};
  for (int i = 0; i < 7; ++i) {
    if (!r.read(&h[i])) {
      return corrupt(name_ + ": header: expected " + u64s(kHeaderBytes) + " bytes (7 x int32), found a file of " +
                     u64s(bytes_.size()) + " bytes");
    }
  }
  if (static_cast<uint32_t>(h[0]) == kNewExportMagic) {
    return unsupported(name_ +
                       ": header: expected a legacy (version 0) llama2.c checkpoint, found the magic \"ak42\" of a "
                       "version 1+ export");
  }
  Config c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.shared_classifier = h[5] > 0;
  c.vocab_size = h[5] == INT32_MIN ? 0 : (h[5] < 0 ? -h[5] : h[5]);
  c.seq_len = h[6];

  const Bound bounds[] = {
      {"dim", c.dim, kMaxDim},           {"hidden_dim", c.hidden_dim, kMaxHiddenDim},
      {"n_layers", c.n_layers, kMaxLayers}, {"n_heads", c.n_heads, kMaxHeads},
      {"n_kv_heads", c.n_kv_heads, kMaxHeads}, {"vocab_size", c.vocab_size, kMaxVocab},
      {"seq_len", c.seq_len, kMaxSeqLen},
  };
  for (const Bound& b : bounds) {
    if (b.value < 1 || b.value > b.max) {
      std::string found = std::to_string(b.value);
      if (std::strcmp(b.field, "vocab_size") == 0) found = std::to_string(h[5]);
      return corrupt(name_ + ": header: " + b.field + ": expected 1.." + std::to_string(b.max) + ", found " +
                     found);
    }
  }
  if (c.dim % c.n_heads != 0) {
    return corrupt(name_ + ": header: n_heads: expected a divisor of dim " + std::to_string(c.dim) + ", found " +
                   std::to_string(c.n_heads));
  }
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0) {
    return corrupt(name_ + ": header: n_kv_heads: expected a divisor of n_heads " + std::to_string(c.n_heads) +
                   ", found " + std::to_string(c.n_kv_heads));
  }
  const int32_t head_size = c.dim / c.n_heads;
  if (head_size % 2 != 0) {
    return corrupt(name_ + ": header: dim / n_heads: expected an even head size (RoPE rotates pairs), found " +
                   std::to_string(head_size));
  }

  const Sections s = sections(c);
  const uint64_t base_bytes = kHeaderBytes + 4 * weights_floats(s);
  const uint64_t cls_bytes = 4 * static_cast<uint64_t>(c.vocab_size) * static_cast<uint64_t>(c.dim);
  const uint64_t expected = base_bytes + (c.shared_classifier ? 0 : cls_bytes);
  if (bytes_.size() != expected) {
    std::string hint;
    if (c.shared_classifier && bytes_.size() == base_bytes + cls_bytes) {
      hint = " (that is the size with a separate classifier, but vocab_size > 0 says it is shared)";
    } else if (!c.shared_classifier && bytes_.size() == base_bytes) {
      hint = " (that is the size with a shared classifier, but vocab_size < 0 says it is separate)";
    }
    return corrupt(name_ + ": file size: expected " + u64s(expected) + " bytes for " + describe(c) + " (" +
                   (c.shared_classifier ? "shared" : "separate") + " classifier), found " + u64s(bytes_.size()) +
                   hint);
  }
  config_ = c;

  // Views, in file order. Offsets are multiples of 4 from the start of the file.
  const float* p = reinterpret_cast<const float*>(bytes_.data() + kHeaderBytes);
  const int64_t dim = c.dim, hidden = c.hidden_dim, vocab = c.vocab_size;
  const int64_t head = head_size;
  const int64_t q_dim = c.n_heads * head, kv_dim = c.n_kv_heads * head;
  const size_t layers = static_cast<size_t>(c.n_layers);
  tok_emb_ = f32_view(p, dim, vocab);
  p += s.tok_emb;
  layers_.assign(layers, LayerViews());
  // Each per-layer array is n_layers consecutive blocks of the same size.
  auto per_layer = [&](TensorView LayerViews::*field, uint64_t total, int64_t ne0, int64_t ne1) {
    const uint64_t each = total / layers;
    for (size_t l = 0; l < layers; ++l) layers_[l].*field = f32_view(p + l * each, ne0, ne1);
    p += total;
  };
  per_layer(&LayerViews::attn_norm, s.rms_att, dim, 0);
  per_layer(&LayerViews::wq, s.wq, dim, q_dim);
  per_layer(&LayerViews::wk, s.wk, dim, kv_dim);
  per_layer(&LayerViews::wv, s.wv, dim, kv_dim);
  per_layer(&LayerViews::wo, s.wo, q_dim, dim);
  per_layer(&LayerViews::ffn_norm, s.rms_ffn, dim, 0);
  per_layer(&LayerViews::w1, s.w1, dim, hidden);
  per_layer(&LayerViews::w2, s.w2, hidden, dim);
  per_layer(&LayerViews::w3, s.w3, dim, hidden);
  final_norm_ = f32_view(p, dim);
  p += s.rms_final;
  p += s.freq_cis;
  cls_ = c.shared_classifier ? tok_emb_ : f32_view(p, dim, vocab);
  return Status::ok();
}

const LayerViews& Checkpoint::layer(int i) const {
  MNEMO_CHECK(i >= 0 && static_cast<size_t>(i) < layers_.size());
  return layers_[static_cast<size_t>(i)];
}

}  // namespace mnemo::llama2c
