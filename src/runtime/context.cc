// runtime/context.cc: Context = a LlamaSession with its own thread pool, sized by the planner.
#include "mnemo/context.h"

#include "base/thread_pool.h"
#include "memory/planner.h"
#include "runtime/model_impl.h"

namespace mnemo {

struct Context::Impl {
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<LlamaSession> session;
  MemoryPlan plan;
};

Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Context::~Context() = default;

Expected<std::unique_ptr<Context>> Context::create(const Model& model, const ContextParams& params) {
  const Model::Impl& m = model.impl();
  MemoryRequest req;
  req.n_ctx = params.n_ctx;
  req.n_batch = params.n_batch;
  req.logits_all = params.logits_all;
  req.weights_resident = !m.file().is_mapped() || m.locked;
  auto impl = std::make_unique<Impl>();
  impl->pool = std::make_unique<ThreadPool>(params.n_threads);
  const int n_threads = impl->pool->size();
  req.workspace_bytes = [&](int64_t n_batch) { return LlamaSession::workspace_bytes(*m.model, n_batch, n_threads); };
  MNEMO_ASSIGN_OR_RETURN(MemoryPlan plan, plan_memory(m.model->config(), m.info.weight_bytes, req));
  impl->plan = plan;
  MNEMO_ASSIGN_OR_RETURN(impl->session,
                         LlamaSession::create(m.model, plan.n_ctx, plan.n_batch, params.logits_all, impl->pool.get()));
  return std::unique_ptr<Context>(new Context(std::move(impl)));
}

Status Context::eval(std::span<const Token> tokens, int64_t pos, bool all_logits) {
  return impl_->session->forward(tokens, pos, all_logits);
}

std::span<const float> Context::logits(int64_t i) const { return impl_->session->logits(i); }
int64_t Context::n_ctx() const { return impl_->session->n_ctx(); }
int64_t Context::n_batch() const { return impl_->session->n_batch(); }
int64_t Context::n_past() const { return impl_->session->n_past(); }
int32_t Context::n_threads() const { return impl_->pool->size(); }
void Context::reset() { impl_->session->reset(); }

ContextMemory Context::memory() const {
  ContextMemory m;
  m.kv_reserved_bytes = impl_->session->kv().reserved_bytes();
  m.kv_used_bytes = impl_->session->kv().used_bytes(impl_->session->n_past());
  m.activation_bytes = impl_->plan.activation_bytes;
  return m;
}

}  // namespace mnemo
