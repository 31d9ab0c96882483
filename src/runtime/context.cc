// runtime/context.cc: Context = a LlamaSession planned into what is left of the engine's budget,
// its block and KV reservation leased from the engine, running on the engine's pool.
#include "mnemo/context.h"

#include <mutex>

#include "base/aligned_block.h"
#include "base/strings.h"
#include "plan/planner.h"
#include "runtime/context_impl.h"
#include "runtime/engine_impl.h"
#include "runtime/model_impl.h"

namespace mnemo {

Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Context::~Context() = default;

namespace {

// The KV type named `name` for rows of `what` ("K", "V"); "" is the default rule (context.h).
Expected<KvType> resolve_kv_type(const Model& model, const char* what, const std::string& name) {
  if (name.empty()) return model.info().weight_type == "f32" ? KvType::kF32 : KvType::kF16;
  const std::optional<KvType> t = kv_type_from_name(name);
  if (!t) {
    return invalid_argument(str_printf("%s cache type: expected one of %s, found '%s'", what,
                                       std::string(kv_type_names()).c_str(), name.c_str()));
  }
  if (!kv_type_fits(*t, model.info().head_dim)) {
    return invalid_argument(
        str_printf("%s cache type %s: expected a head size that is a multiple of its block of %lld "
                   "values, found head size %lld in %s (use f32 or f16)",
                   what, name.c_str(), static_cast<long long>(kv_type_block(*t)),
                   static_cast<long long>(model.info().head_dim), model.info().path.c_str()));
  }
  return *t;
}

}  // namespace

std::vector<std::string> kv_cache_type_names() {
  std::vector<std::string> names;
  for (KvType t : kAllKvTypes) names.emplace_back(kv_type_name(t));
  return names;
}

Expected<KvCacheTypes> kv_cache_types(const Model& model, const std::string& type_k,
                                      const std::string& type_v) {
  MNEMO_ASSIGN_OR_RETURN(KvType tk, resolve_kv_type(model, "K", type_k));
  MNEMO_ASSIGN_OR_RETURN(KvType tv, resolve_kv_type(model, "V", type_v));
  const LlamaConfig& c = model.impl().model->config();
  KvCacheTypes r;
  r.type_k = kv_type_name(tk);
  r.type_v = kv_type_name(tv);
  r.bytes_per_position =
      KvCache::bytes_for(c.n_layer, 1, kv_row_bytes(tk, c.n_embd_kv()), kv_row_bytes(tv, c.n_embd_kv()));
  r.bytes_per_value = static_cast<double>(r.bytes_per_position) /
                      static_cast<double>(2 * c.n_layer * c.n_embd_kv());
  return r;
}

namespace {
// ContextParams' policy options -> the session's KvPolicyParams (budget in slots of n_ctx).
Status resolve_kv_policy(const ContextParams& params, int64_t n_ctx, KvPolicyParams* out) {
  KvPolicyParams p;
  if (!params.kv_policy.empty()) {
    MNEMO_ASSIGN_OR_RETURN(p.policy, parse_kv_policy(params.kv_policy));
  }
  KvBudget b;
  if (!params.kv_budget.empty()) {
    MNEMO_ASSIGN_OR_RETURN(b, parse_kv_budget(params.kv_budget));
  }
  if (p.policy == KvPolicy::kFull && b.is_set()) {
    return invalid_argument("--kv-budget: the full policy keeps every position; choose --kv-policy window, sinks, h2o or "
                            "kvmerger");
  }
  if (p.policy != KvPolicy::kFull && !b.is_set()) {
    return invalid_argument(str_printf("--kv-policy %s: expected a --kv-budget (a fraction of the context or tokens)",
                                       kv_policy_name(p.policy)));
  }
  p.budget = b.slots(n_ctx);
  p.n_sink = params.kv_sinks;
  p.n_recent = params.kv_recent;
  if (p.policy != KvPolicy::kFull) MNEMO_RETURN_IF_ERROR(validate(p, n_ctx));
  *out = p;
  return Status::ok();
}
}  // namespace

Expected<std::unique_ptr<Context>> Context::create(const Model& model,
                                                   const ContextParams& params) {
  const Model::Impl& m = model.impl();
  Engine::Impl& e = m.engine->impl();
  SessionRequest req;
  MNEMO_ASSIGN_OR_RETURN(req.shape.type_k, resolve_kv_type(model, "K", params.type_k));
  MNEMO_ASSIGN_OR_RETURN(req.shape.type_v, resolve_kv_type(model, "V", params.type_v));
  req.shape.n_ctx = params.n_ctx != 0 ? params.n_ctx : m.model->config().n_ctx_train;
  req.shape.n_batch = params.n_batch;
  req.shape.logits_all = params.logits_all;
  req.shape.n_threads = e.pool->size();
  req.shape.n_seq_max = params.n_seq_max;
  req.shape.kv_pool_bytes = params.kv_pool_bytes;
  MNEMO_RETURN_IF_ERROR(resolve_kv_policy(params, req.shape.n_ctx, &req.shape.kv_policy));
  req.n_ctx_min = params.n_ctx_min;
  req.n_batch_min = params.n_batch_min;
  req.n_batch_floor = params.n_batch_floor;
  MNEMO_ASSIGN_OR_RETURN(SessionPlan plan, plan_session(*m.model, req, e.budget->available()));
  auto impl = std::make_unique<Impl>();
  impl->engine = m.engine;
  impl->adjusted = plan.adjusted;
  impl->min_bytes = plan.min_bytes;
  impl->model_fingerprint = model.info().fingerprint;
  impl->n_head_kv = model.info().n_head_kv;
  const SessionLayout& l = plan.layout;
  MNEMO_ASSIGN_OR_RETURN(impl->kv_lease, e.budget->acquire("KV cache", l.kv_bytes));
  MNEMO_ASSIGN_OR_RETURN(impl->block_lease, e.budget->acquire("activations", l.block_bytes));
  impl->block = AlignedBlock(l.block_bytes);
  MNEMO_ASSIGN_OR_RETURN(impl->session, LlamaSession::create(m.model, l, e.pool.get(), impl->block.span()));
  return std::unique_ptr<Context>(new Context(std::move(impl)));
}

Status Context::eval(std::span<const Token> tokens, int64_t pos, bool all_logits) {
  std::lock_guard<std::mutex> lock(impl_->engine->impl().run_mu);
  return impl_->session->forward(tokens, pos, all_logits);
}

Status Context::eval(std::span<const BatchEntry> batch) {
  std::lock_guard<std::mutex> lock(impl_->engine->impl().run_mu);
  return impl_->session->forward_batch(batch);
}

Expected<SeqId> Context::open_sequence() { return impl_->session->open_sequence(); }
Status Context::close_sequence(SeqId seq) { return impl_->session->close_sequence(seq); }
Status Context::truncate_sequence(SeqId seq, int64_t n_pos) { return impl_->session->truncate_sequence(seq, n_pos); }
Status Context::shift_sequence(SeqId seq, int64_t n_keep, int64_t n_discard) {
  return impl_->session->shift_sequence(seq, n_keep, n_discard);
}
int64_t Context::sequence_length(SeqId seq) const { return impl_->session->sequence_length(seq); }
uint64_t Context::sequence_kv_bytes(SeqId seq) const {
  return impl_->session->sequence_length(seq) < 0 ? 0 : impl_->session->kv().committed_bytes(seq);
}
int32_t Context::n_seq_max() const { return static_cast<int32_t>(impl_->session->n_seq_max()); }

std::span<const float> Context::logits(int64_t i) const { return impl_->session->logits(i); }
int64_t Context::n_ctx() const { return impl_->session->n_ctx(); }
int64_t Context::n_batch() const { return impl_->session->n_batch(); }
int64_t Context::n_past() const { return impl_->session->n_past(); }
int32_t Context::n_threads() const { return impl_->session->pool().size(); }
void Context::reset() { impl_->session->reset(); }

ContextMemory Context::memory() const {
  ContextMemory m;
  const SessionLayout& l = impl_->session->layout();
  const LlamaSession& s = *impl_->session;
  m.kv_reserved_bytes = l.kv_bytes;
  for (int32_t q = 0; q < s.n_seq_max(); ++q) m.kv_used_bytes += s.kv().used_bytes(std::max<int64_t>(0, s.sequence_length(q)));
  m.kv_committed_bytes = s.kv().committed_bytes();
  m.kv_address_bytes = s.kv().reserved_bytes();
  m.activation_bytes = l.block_bytes;
  m.workspace_bytes = l.workspace_bytes();
  m.adjusted = impl_->adjusted;
  m.min_bytes = impl_->min_bytes;
  const KvCache& kv = impl_->session->kv();
  const KvPolicyParams& pol = impl_->session->kv_policy();
  m.kv_policy = kv_policy_name(pol.policy);
  m.kv_budget = pol.policy == KvPolicy::kFull ? s.n_ctx() : pol.budget;
  m.kv_compactions = s.n_compactions();
  m.kv_values_per_position = kv.n_layer() * kv.n_embd_kv();
  m.kv_policy_bytes = l.kv_scores.bytes + l.score_work.bytes + l.kv_compact.bytes;
  m.type_k = kv_type_name(kv.type_k());
  m.type_v = kv_type_name(kv.type_v());
  m.kv_bytes_per_value = static_cast<double>(KvCache::bytes_for(1, 1, kv.k_row_bytes(), kv.v_row_bytes())) /
                          static_cast<double>(2 * kv.n_embd_kv());
  return m;
}

}  // namespace mnemo
