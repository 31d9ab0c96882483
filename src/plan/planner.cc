#include "plan/planner.h"

#include <algorithm>
#include <vector>

#include "base/strings.h"

namespace mnemo {

std::string describe(const SessionLayout& l) {
  const std::string seqs =
      l.shape.n_seq_max > 1 ? str_printf(" x %lld sequences", static_cast<long long>(l.shape.n_seq_max)) : "";
  return str_printf("KV cache %s for %lld positions%s (K %s, V %s), activations %s at batch %lld (kernel workspace %s)",
                    format_bytes(l.kv_bytes).c_str(), static_cast<long long>(l.shape.n_ctx), seqs.c_str(),
                    std::string(kv_type_name(l.shape.type_k)).c_str(), std::string(kv_type_name(l.shape.type_v)).c_str(),
                    format_bytes(l.block_bytes).c_str(), static_cast<long long>(l.shape.n_batch),
                    format_bytes(l.workspace_bytes()).c_str());
}

namespace {

// The shapes to try, most wanted first (see planner.h).
std::vector<SessionShape> candidates(const SessionRequest& r) {
  std::vector<SessionShape> out;
  SessionShape s = r.shape;
  s.n_batch = std::min(s.n_batch, max_batch(s));
  out.push_back(s);
  const int64_t least = std::max<int64_t>(1, r.n_batch_min);
  const int64_t floor = std::max(least, std::min(r.n_batch_floor, s.n_batch));
  while (s.n_batch > floor) {
    s.n_batch = std::max(floor, s.n_batch / 2);
    out.push_back(s);
  }
  if (r.n_ctx_min > 0) {
    while (s.n_ctx > r.n_ctx_min) {
      s.n_ctx = std::max(r.n_ctx_min, s.n_ctx / 2);
      if (s.n_ctx < least) break;
      s.n_batch = std::min(s.n_batch, max_batch(s));
      out.push_back(s);
    }
  }
  while (s.n_batch > least) {
    s.n_batch = std::max(least, s.n_batch / 2);
    out.push_back(s);
  }
  return out;
}

std::string adjustment(const SessionShape& asked, const SessionShape& got) {
  std::string out;
  if (got.n_batch != std::min(asked.n_batch, max_batch(asked))) {
    out += str_printf("batch %lld -> %lld", static_cast<long long>(std::min(asked.n_batch, max_batch(asked))),
                      static_cast<long long>(got.n_batch));
  }
  if (got.n_ctx != asked.n_ctx) {
    out += str_printf("%scontext %lld -> %lld", out.empty() ? "" : ", ", static_cast<long long>(asked.n_ctx),
                      static_cast<long long>(got.n_ctx));
  }
  return out;
}

}  // namespace

Expected<SessionPlan> plan_session(const LlamaModel& model, const SessionRequest& request, uint64_t available_bytes) {
  MNEMO_ASSIGN_OR_RETURN(SessionLayout asked, LlamaSession::layout(model, request.shape));
  const std::vector<SessionShape> shapes = candidates(request);
  MNEMO_ASSIGN_OR_RETURN(SessionLayout smallest, LlamaSession::layout(model, shapes.back()));
  if (asked.total_bytes() <= available_bytes) return SessionPlan{asked, smallest.total_bytes(), ""};
  for (const SessionShape& s : shapes) {
    MNEMO_ASSIGN_OR_RETURN(SessionLayout l, LlamaSession::layout(model, s));
    if (l.total_bytes() <= available_bytes) return SessionPlan{l, smallest.total_bytes(), adjustment(asked.shape, l.shape)};
  }
  std::string how = request.n_ctx_min > 0 && request.n_ctx_min < request.shape.n_ctx
                        ? "even at the shortest context the command accepts"
                        : "at this context size (lower it with -c)";
  return resource_exhausted(str_printf("the context needs %s (%s; %s) but %s is left of the memory budget",
                                       format_bytes(smallest.total_bytes()).c_str(), describe(smallest).c_str(),
                                       how.c_str(), format_bytes(available_bytes).c_str()));
}

}  // namespace mnemo
