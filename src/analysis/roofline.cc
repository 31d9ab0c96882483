// analysis/roofline.cc: the decode roofline of a model (include/mnemo/hw.h).
//
// Per decoded token mnemo reads: every matrix of every layer and the output head once (the
// matrix-vector products), the norms, one row of the token embedding (get_row), and for attention
// the K and V rows of every cached position in every layer. Activations stay in cache and are not
// counted. Token t of a tg run after n_prompt positions attends to n_prompt + t + 1 positions.
#include <algorithm>

#include "mnemo/hw.h"

namespace mnemo {

DecodeRoofline decode_roofline(const ModelInfo& info, double bandwidth_gb_s, int64_t n_prompt,
                               int64_t n_gen, double kv_bytes_per_value) {
  DecodeRoofline r;
  uint64_t embd = 0;
  if (auto it = info.bytes_by_class.find("token_embd"); it != info.bytes_by_class.end()) embd = it->second;
  const uint64_t embd_row = info.n_vocab > 0 ? embd / static_cast<uint64_t>(info.n_vocab) : 0;
  // A tied output head reads the whole embedding as its matrix.
  r.weight_bytes = info.tied_output ? info.weight_bytes : info.weight_bytes - embd + embd_row;
  n_gen = std::max<int64_t>(n_gen, 1);
  const double avg_positions = static_cast<double>(n_prompt) + static_cast<double>(n_gen + 1) / 2.0;
  const double kv_row = 2.0 * static_cast<double>(info.n_layer) * static_cast<double>(info.n_head_kv * info.head_dim) *
                        kv_bytes_per_value;
  r.kv_bytes = static_cast<uint64_t>(kv_row * avg_positions);
  r.bytes_per_token = r.weight_bytes + r.kv_bytes;
  r.bandwidth_gb_s = bandwidth_gb_s;
  r.max_tokens_per_s = r.bytes_per_token > 0 ? bandwidth_gb_s * 1e9 / static_cast<double>(r.bytes_per_token) : 0.0;
  return r;
}

}  // namespace mnemo
