// runtime/context_session.cc: a sequence's cache saved to and restored from a session file
// (formats/kv_session.h; llama.cpp's --prompt-cache and llama_state_seq_save_file).
#include <algorithm>
#include <cstring>

#include "base/strings.h"
#include "formats/kv_session.h"
#include "model/kv_policy.h"
#include "mnemo/context.h"
#include "runtime/context_impl.h"

namespace mnemo {

namespace {

// Scores saved per layer: the policy's accumulated attention, [KV head][budget] (0: none).
int64_t score_floats_per_layer(const LlamaSession& s, int64_t n_head_kv) {
  return s.kv().n_layer() > 0 ? kv_score_floats(s.kv_policy(), 1, n_head_kv) : 0;
}

KvSessionHeader header_for(const LlamaSession& s, const std::string& fingerprint, int64_t n_head_kv,
                           std::span<const Token> tokens, int64_t n_slots) {
  const KvCache& kv = s.kv();
  const KvPolicyParams& p = s.kv_policy();
  KvSessionHeader h;
  h.model = fingerprint;
  h.type_k = kv_type_name(kv.type_k());
  h.type_v = kv_type_name(kv.type_v());
  h.policy = kv_policy_name(p.policy);
  h.budget = p.policy == KvPolicy::kFull ? 0 : p.budget;
  h.n_layer = kv.n_layer();
  h.row_bytes_k = static_cast<int64_t>(kv.k_row_bytes());
  h.row_bytes_v = static_cast<int64_t>(kv.v_row_bytes());
  h.n_slots = n_slots;
  h.n_pos = n_slots;  // positions are cache positions (docs/KV.md), also after compaction
  h.score_floats = score_floats_per_layer(s, n_head_kv);
  h.tokens.assign(tokens.begin(), tokens.end());
  return h;
}

// A full-policy sequence holds one slot per token of its text; a compacted one fewer.
bool slots_match_tokens(const std::string& policy, int64_t n_slots, size_t n_tokens) {
  return policy == "full" ? static_cast<int64_t>(n_tokens) == n_slots : static_cast<int64_t>(n_tokens) >= n_slots;
}

// Why a saved header cannot be restored into this context ("" when it can).
std::string mismatch(const KvSessionHeader& saved, const KvSessionHeader& want, int64_t n_ctx) {
  if (saved.model != want.model) return "it was saved from another model (fingerprint " + saved.model.substr(0, 16) +
                                        "..., this model's is " + want.model.substr(0, 16) + "...)";
  if (saved.type_k != want.type_k || saved.type_v != want.type_v) {
    return "its KV types are K " + saved.type_k + ", V " + saved.type_v + "; this context's are K " + want.type_k +
           ", V " + want.type_v + " (pass the same -ctk/-ctv)";
  }
  if (saved.policy != want.policy || saved.budget != want.budget) {
    return str_printf("its KV policy is %s (budget %lld slots), this context's is %s (budget %lld slots)",
                      saved.policy.c_str(), static_cast<long long>(saved.budget), want.policy.c_str(),
                      static_cast<long long>(want.budget));
  }
  if (saved.n_layer != want.n_layer || saved.row_bytes_k != want.row_bytes_k || saved.row_bytes_v != want.row_bytes_v ||
      saved.score_floats != want.score_floats) {
    return "its rows do not have this model's shape";
  }
  if (!slots_match_tokens(saved.policy, saved.n_slots, saved.tokens.size()) || saved.n_pos != saved.n_slots) {
    return "its positions and tokens disagree";
  }
  const int64_t limit = saved.policy == "full" ? n_ctx : std::min(n_ctx, saved.budget);
  if (saved.n_slots > limit) {
    return str_printf("it holds %lld positions, more than this context's %lld", static_cast<long long>(saved.n_slots),
                      static_cast<long long>(limit));
  }
  return "";
}

}  // namespace

Status Context::save_sequence(SeqId seq, std::span<const Token> tokens, const std::string& path) const {
  const LlamaSession& s = *impl_->session;
  const int64_t n = s.sequence_length(seq);
  if (n < 0) return invalid_argument(str_printf("save session %s: sequence %d is not open", path.c_str(), seq));
  const KvSessionHeader h = header_for(s, impl_->model_fingerprint, impl_->n_head_kv, tokens, n);
  if (!slots_match_tokens(h.policy, n, tokens.size())) {
    return invalid_argument(str_printf("save session %s: expected %s%lld tokens (the sequence's cached positions), got %zu",
                                       path.c_str(), h.policy == "full" ? "" : "at least ", static_cast<long long>(n),
                                       tokens.size()));
  }
  const float* scores = h.score_floats > 0 ? s.scores(seq) : nullptr;
  const KvCache& kv = s.kv();
  auto rows = [&](int64_t layer, KvRegion region) -> std::span<const uint8_t> {
    if (region == KvRegion::kKeys) return {kv.k(seq, layer), static_cast<size_t>(n) * kv.k_row_bytes()};
    if (region == KvRegion::kValues) return {kv.v(seq, layer), static_cast<size_t>(n) * kv.v_row_bytes()};
    if (scores == nullptr) return {};
    const float* layer_scores = scores + layer * h.score_floats;
    return {reinterpret_cast<const uint8_t*>(layer_scores), static_cast<size_t>(h.score_floats) * sizeof(float)};
  };
  return save_kv_session(path, h, rows);
}

Expected<std::vector<Token>> Context::load_sequence(SeqId seq, const std::string& path) {
  LlamaSession& s = *impl_->session;
  if (s.sequence_length(seq) < 0) {
    return invalid_argument(str_printf("load session %s: sequence %d is not open", path.c_str(), seq));
  }
  MNEMO_ASSIGN_OR_RETURN(KvSessionReader reader, KvSessionReader::open(path));
  const KvSessionHeader& saved = reader.header();
  const KvSessionHeader want = header_for(s, impl_->model_fingerprint, impl_->n_head_kv, {}, 0);
  const std::string why = mismatch(saved, want, s.n_ctx());
  if (!why.empty()) return invalid_argument("session " + path + " cannot be restored here: " + why);
  MNEMO_RETURN_IF_ERROR(s.adopt_rows(seq, saved.n_slots));
  KvCache& kv = s.kv();
  const size_t n = static_cast<size_t>(saved.n_slots);
  for (int64_t l = 0; l < kv.n_layer(); ++l) {
    Status st = reader.read(l, KvRegion::kKeys, {kv.k(seq, l), n * kv.k_row_bytes()});
    if (st.is_ok()) st = reader.read(l, KvRegion::kValues, {kv.v(seq, l), n * kv.v_row_bytes()});
    if (st.is_ok() && want.score_floats > 0) {
      float* layer_scores = s.scores(seq) + l * want.score_floats;
      st = reader.read(l, KvRegion::kScores,
                       {reinterpret_cast<uint8_t*>(layer_scores), static_cast<size_t>(want.score_floats) * sizeof(float)});
    }
    if (!st.is_ok()) {
      (void)s.truncate_sequence(seq, 0);
      return st;
    }
  }
  return saved.tokens;
}

}  // namespace mnemo
