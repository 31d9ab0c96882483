// runtime/context_session.cc: a sequence's cache saved to and restored from a session file
// (formats/kv_session.h; llama.cpp's --prompt-cache and llama_state_seq_save_file).
#include <cstring>

#include "base/strings.h"
#include "formats/kv_session.h"
#include "mnemo/context.h"
#include "runtime/context_impl.h"

namespace mnemo {

namespace {

constexpr const char* kFullPolicy = "full";  // the only policy a context runs today

KvSessionHeader header_for(const LlamaSession& s, const std::string& fingerprint, std::span<const Token> tokens) {
  const KvCache& kv = s.kv();
  KvSessionHeader h;
  h.model = fingerprint;
  h.type_k = kv_type_name(kv.type_k());
  h.type_v = kv_type_name(kv.type_v());
  h.policy = kFullPolicy;
  h.n_layer = kv.n_layer();
  h.row_bytes_k = static_cast<int64_t>(kv.k_row_bytes());
  h.row_bytes_v = static_cast<int64_t>(kv.v_row_bytes());
  h.n_slots = static_cast<int64_t>(tokens.size());
  h.n_pos = h.n_slots;
  h.tokens.assign(tokens.begin(), tokens.end());
  return h;
}

// Why a saved header cannot be restored into this context ("" when it can).
std::string mismatch(const KvSessionHeader& saved, const KvSessionHeader& want, int64_t n_ctx) {
  if (saved.model != want.model) return "it was saved from another model (fingerprint " + saved.model.substr(0, 16) +
                                        "..., this model's is " + want.model.substr(0, 16) + "...)";
  if (saved.type_k != want.type_k || saved.type_v != want.type_v) {
    return "its KV types are K " + saved.type_k + ", V " + saved.type_v + "; this context's are K " + want.type_k +
           ", V " + want.type_v + " (pass the same -ctk/-ctv)";
  }
  if (saved.policy != want.policy) return "its KV policy is " + saved.policy + ", this context's is " + want.policy;
  if (saved.n_layer != want.n_layer || saved.row_bytes_k != want.row_bytes_k || saved.row_bytes_v != want.row_bytes_v) {
    return "its rows do not have this model's shape";
  }
  if (saved.n_slots != static_cast<int64_t>(saved.tokens.size()) || saved.n_pos != saved.n_slots) {
    return "its positions and tokens disagree";
  }
  if (saved.n_slots > n_ctx) {
    return str_printf("it holds %lld positions, more than this context's %lld", static_cast<long long>(saved.n_slots),
                      static_cast<long long>(n_ctx));
  }
  return "";
}

}  // namespace

Status Context::save_sequence(SeqId seq, std::span<const Token> tokens, const std::string& path) const {
  const LlamaSession& s = *impl_->session;
  const int64_t n = s.sequence_length(seq);
  if (n < 0) return invalid_argument(str_printf("save session %s: sequence %d is not open", path.c_str(), seq));
  if (static_cast<int64_t>(tokens.size()) != n) {
    return invalid_argument(str_printf("save session %s: expected %lld tokens (the sequence's cached positions), got %zu",
                                       path.c_str(), static_cast<long long>(n), tokens.size()));
  }
  const KvSessionHeader h = header_for(s, impl_->model_fingerprint, tokens);
  const KvCache& kv = s.kv();
  auto rows = [&](int64_t layer, KvRegion region) -> std::span<const uint8_t> {
    if (region == KvRegion::kKeys) return {kv.k(seq, layer), static_cast<size_t>(n) * kv.k_row_bytes()};
    if (region == KvRegion::kValues) return {kv.v(seq, layer), static_cast<size_t>(n) * kv.v_row_bytes()};
    return {};
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
  const std::string why = mismatch(saved, header_for(s, impl_->model_fingerprint, {}), s.n_ctx());
  if (!why.empty()) return invalid_argument("session " + path + " cannot be restored here: " + why);
  MNEMO_RETURN_IF_ERROR(s.adopt_rows(seq, saved.n_slots));
  KvCache& kv = s.kv();
  const size_t n = static_cast<size_t>(saved.n_slots);
  for (int64_t l = 0; l < kv.n_layer(); ++l) {
    Status st = reader.read(l, KvRegion::kKeys, {kv.k(seq, l), n * kv.k_row_bytes()});
    if (st.is_ok()) st = reader.read(l, KvRegion::kValues, {kv.v(seq, l), n * kv.v_row_bytes()});
    if (!st.is_ok()) {
      (void)s.truncate_sequence(seq, 0);
      return st;
    }
  }
  return saved.tokens;
}

}  // namespace mnemo
