#include "train/params.h"

#include <algorithm>
#include <cmath>

#include "base/strings.h"
#include "train/rng.h"

namespace mnemo::train {

Status validate_shape(const TrainShape& s, const std::string& subject) {
  auto bad = [&](const char* field, const std::string& expected, long long found) {
    return invalid_argument(str_printf("%s: model.%s: expected %s, found %lld", subject.c_str(), field, expected.c_str(),
                                       found));
  };
  constexpr int64_t kMaxDim = 1 << 20;
  struct Field {
    const char* name;
    int64_t v;
  };
  for (const Field& f : {Field{"n_vocab", s.n_vocab}, Field{"n_embd", s.n_embd}, Field{"n_layer", s.n_layer},
                         Field{"n_head", s.n_head}, Field{"n_head_kv", s.n_head_kv}, Field{"n_ff", s.n_ff},
                         Field{"n_ctx", s.n_ctx}}) {
    if (f.v <= 0 || f.v > kMaxDim * 16) return bad(f.name, "a positive count", static_cast<long long>(f.v));
  }
  if (s.n_vocab >= (1 << 24)) return bad("n_vocab", "fewer than 2^24 tokens", s.n_vocab);
  if (s.n_embd % s.n_head != 0) {
    return bad("n_head", str_printf("a divisor of n_embd (%lld)", static_cast<long long>(s.n_embd)), s.n_head);
  }
  if (s.n_head % s.n_head_kv != 0) {
    return bad("n_head_kv", str_printf("a divisor of n_head (%lld)", static_cast<long long>(s.n_head)), s.n_head_kv);
  }
  const int64_t hd = s.head_dim();
  if (hd % 2 != 0 || hd > 256) {
    return invalid_argument(str_printf("%s: model: expected an even head dimension (n_embd / n_head) of at most 256, "
                                       "found %lld",
                                       subject.c_str(), static_cast<long long>(hd)));
  }
  if (s.n_embd > kMaxDim || s.n_ff > kMaxDim || s.n_layer > 4096 || s.n_ctx > kMaxDim) {
    return invalid_argument(subject + ": model: dimensions too large to train here");
  }
  if (!(s.rms_eps > 0.0f && s.rms_eps < 1.0f)) {
    return invalid_argument(str_printf("%s: model.rms_eps: expected a value in (0, 1), found %g", subject.c_str(),
                                       static_cast<double>(s.rms_eps)));
  }
  if (!(s.rope_base > 1.0f)) {
    return invalid_argument(str_printf("%s: model.rope_base: expected a value above 1, found %g", subject.c_str(),
                                       static_cast<double>(s.rope_base)));
  }
  return Status::ok();
}

std::string describe_shape(const TrainShape& s) {
  return str_printf("d=%lld L=%lld H=%lld/%lld ff=%lld V=%lld ctx=%lld%s", static_cast<long long>(s.n_embd),
                    static_cast<long long>(s.n_layer), static_cast<long long>(s.n_head),
                    static_cast<long long>(s.n_head_kv), static_cast<long long>(s.n_ff),
                    static_cast<long long>(s.n_vocab), static_cast<long long>(s.n_ctx), s.tied_output ? " tied" : "");
}

const char* param_kind_name(ParamKind k) {
  switch (k) {
    case ParamKind::kEmbedding: return "token_embd";
    case ParamKind::kNorm: return "norm";
    case ParamKind::kAttention: return "attention";
    case ParamKind::kFfn: return "ffn";
    case ParamKind::kOutput: return "output";
  }
  return "?";
}

ParamLayout ParamLayout::build(const TrainShape& s) {
  ParamLayout p;
  int64_t off = 0;
  auto add = [&](std::string name, int64_t rows, int64_t cols, ParamKind kind, int layer) {
    ParamInfo t;
    t.name = std::move(name);
    t.rows = rows;
    t.cols = cols;
    t.offset = off;
    t.kind = kind;
    t.layer = layer;
    off += rows * cols;
    p.tensors_.push_back(std::move(t));
    return p.tensors_.back().offset;
  };
  const int64_t d = s.n_embd, dq = s.n_embd_q(), dkv = s.n_embd_kv(), ff = s.n_ff;
  p.token_embd_ = add("token_embd.weight", s.n_vocab, d, ParamKind::kEmbedding, -1);
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string b = str_printf("blk.%lld.", static_cast<long long>(l));
    const int li = static_cast<int>(l);
    LayerOffsets o;
    o.attn_norm = add(b + "attn_norm.weight", 1, d, ParamKind::kNorm, li);
    o.wqkv = add(b + "attn_q.weight", dq, d, ParamKind::kAttention, li);
    add(b + "attn_k.weight", dkv, d, ParamKind::kAttention, li);
    add(b + "attn_v.weight", dkv, d, ParamKind::kAttention, li);
    o.wo = add(b + "attn_output.weight", d, dq, ParamKind::kAttention, li);
    o.ffn_norm = add(b + "ffn_norm.weight", 1, d, ParamKind::kNorm, li);
    o.wgu = add(b + "ffn_gate.weight", ff, d, ParamKind::kFfn, li);
    add(b + "ffn_up.weight", ff, d, ParamKind::kFfn, li);
    o.wdown = add(b + "ffn_down.weight", d, ff, ParamKind::kFfn, li);
    p.layers_.push_back(o);
  }
  p.output_norm_ = add("output_norm.weight", 1, d, ParamKind::kNorm, -1);
  p.output_ = s.tied_output ? p.token_embd_ : add("output.weight", s.n_vocab, d, ParamKind::kOutput, -1);
  p.n_params_ = off;
  return p;
}

const ParamInfo* ParamLayout::find(const std::string& name) const {
  for (const ParamInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

void init_params(const TrainShape& s, const ParamLayout& layout, float std, uint64_t seed, float* params) {
  init_params_range(s, layout, std, seed, 0, layout.n_params(), params);
}

void init_params_range(const TrainShape& s, const ParamLayout& layout, float std, uint64_t seed, int64_t begin,
                       int64_t end, float* out) {
  Rng rng(seed);
  const double resid_std = static_cast<double>(std) / std::sqrt(2.0 * static_cast<double>(s.n_layer));
  for (const ParamInfo& t : layout.tensors()) {
    const int64_t lo = std::max(begin, t.offset) - t.offset, hi = std::min(end, t.offset + t.numel()) - t.offset;
    if (t.kind == ParamKind::kNorm) {
      for (int64_t i = lo; i < hi; ++i) out[t.offset + i - begin] = 1.0f;
      continue;
    }
    const bool resid = ends_with(t.name, "attn_output.weight") || ends_with(t.name, "ffn_down.weight");
    const double sd = resid ? resid_std : static_cast<double>(std);
    // The stream is drawn in full (the same numbers for any range); only [lo, hi) is kept.
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = static_cast<float>(rng.normal() * sd);
      if (i >= lo && i < hi) out[t.offset + i - begin] = v;
    }
  }
}

}  // namespace mnemo::train
