#include "server/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/log.h"
#include "base/strings.h"

namespace mnemo::server {
namespace {

double mono_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The length of the UTF-8 sequence a lead byte starts (1 for ASCII and for stray bytes).
size_t utf8_length(unsigned char c) {
  if (c >= 0xF0 && c <= 0xF7) return 4;
  if (c >= 0xE0) return c <= 0xEF ? 3 : 1;
  if (c >= 0xC0) return 2;
  return 1;
}

// The largest cut <= `cut` that does not split a UTF-8 character of `s`.
size_t utf8_cut(std::string_view s, size_t cut) {
  for (size_t back = 1; back <= 3 && back <= cut; ++back) {
    const auto c = static_cast<unsigned char>(s[cut - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for its lead
    return cut - back + utf8_length(c) > cut ? cut - back : cut;
  }
  return cut;
}

// The longest suffix of `text` that is a proper prefix of one of `stops`: text that may still
// become a stop string and must be held back.
size_t stop_prefix_suffix(std::string_view text, const std::vector<std::string>& stops) {
  size_t keep = 0;
  for (const std::string& stop : stops) {
    for (size_t k = std::min(stop.size() - 1, text.size()); k > keep; --k) {
      if (text.substr(text.size() - k) == std::string_view(stop).substr(0, k)) {
        keep = k;
        break;
      }
    }
  }
  return keep;
}

// log-softmax of `logits` at `token`, and the `k` most likely tokens (OpenAI's logprobs: the
// model's distribution, before temperature and truncation).
TokenLogprob token_logprob(std::span<const float> logits, Token token, int k) {
  float mx = -INFINITY;
  for (float v : logits) mx = std::max(mx, v);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v - mx));
  const float log_z = mx + static_cast<float>(std::log(sum));
  TokenLogprob lp;
  lp.token = token;
  lp.logprob = logits[static_cast<size_t>(token)] - log_z;
  lp.top.reserve(static_cast<size_t>(k));
  for (size_t i = 0; i < logits.size() && k > 0; ++i) {  // insertion into the k best so far
    const float v = logits[i] - log_z;
    if (lp.top.size() == static_cast<size_t>(k) && v <= lp.top.back().second) continue;
    if (lp.top.size() == static_cast<size_t>(k)) lp.top.pop_back();
    auto at = std::find_if(lp.top.begin(), lp.top.end(), [&](const auto& p) { return v > p.second; });
    lp.top.insert(at, {static_cast<Token>(i), v});
  }
  return lp;
}

}  // namespace

struct Scheduler::Seq {
  GenerationRequest req;
  std::unique_ptr<Sampler> sampler;
  std::vector<Token> tokens;  // prompt, then each sampled token (the last not yet evaluated)
  int64_t n_prompt = 0;
  int64_t n_generated = 0;    // sampled, the stopping token included
  int64_t n_cached = 0;       // positions of `tokens` in the Context's KV cache
  int64_t in_batch = 0;       // entries of this sequence in the batch being evaluated
  SeqId seq = -1;             // the Context sequence while admitted
  Token prev = -1;            // the last token, for decode_piece
  double t_submit = 0;
  bool done = false;
  std::string held;                  // text not final yet (a stop string's prefix, a partial character)
  std::vector<TokenLogprob> held_lp;  // log-probabilities of the tokens `held` came from

  int64_t remaining() const { return static_cast<int64_t>(tokens.size()) - n_cached; }
};

Scheduler::Scheduler(std::unique_ptr<Context> ctx, const Tokenizer& tokenizer, const SchedulerOptions& options)
    : ctx_(std::move(ctx)), tok_(tokenizer), opt_(options) {
  n_ctx_ = ctx_->n_ctx();
  n_batch_ = ctx_->n_batch();
  opt_.parallel = std::max(1, std::min(opt_.parallel, ctx_->n_seq_max()));
  opt_.prefill_chunk = std::max<int64_t>(1, opt_.prefill_chunk);
  batch_.reserve(static_cast<size_t>(n_batch_));
  logits_owner_.reserve(static_cast<size_t>(n_batch_));
  active_.reserve(static_cast<size_t>(opt_.parallel));
  // Sequence 0 is open from the start; the scheduler opens its own.
  (void)ctx_->close_sequence(0);
  update_memory_stats();
}

Scheduler::~Scheduler() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::start() { thread_ = std::thread([this] { loop(); }); }

void Scheduler::stop() {
  std::lock_guard l(mu_);
  stop_ = true;
  cv_.notify_all();
}

Status Scheduler::submit(GenerationRequest req) {
  auto s = std::make_unique<Seq>();
  s->n_prompt = static_cast<int64_t>(req.prompt.size());
  s->tokens.reserve(req.prompt.size() + static_cast<size_t>(std::max<int64_t>(req.max_tokens, 0)) + 1);
  s->tokens = req.prompt;
  s->prev = req.prompt.empty() ? -1 : req.prompt.back();
  s->sampler = std::make_unique<Sampler>(tok_.n_vocab(), req.sampling);
  for (Token t : req.prompt) s->sampler->accept(t);
  s->req = std::move(req);
  s->t_submit = mono_seconds();
  std::lock_guard l(mu_);
  if (stop_) return resource_exhausted("server: stopping");
  if (queue_.size() >= opt_.max_queue) {
    return resource_exhausted(str_printf("server: %zu requests already wait for a sequence, try again", queue_.size()));
  }
  queue_.push_back(std::move(s));
  stats_.queued = static_cast<int64_t>(queue_.size());
  cv_.notify_one();
  return Status::ok();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard l(mu_);
  return stats_;
}

void Scheduler::update_memory_stats() {
  const ContextMemory m = ctx_->memory();
  std::lock_guard l(mu_);
  stats_.kv_committed_bytes = m.kv_committed_bytes;
  stats_.kv_reserved_bytes = m.kv_reserved_bytes;
  stats_.kv_used_bytes = m.kv_used_bytes;
  stats_.active = static_cast<int64_t>(active_.size());
  stats_.queued = static_cast<int64_t>(queue_.size());
}

// Moves queued requests to free sequences (mu_ held). After a preemption no new one is admitted
// until a sequence ends, so that a full pool does not admit and preempt the same request each step.
void Scheduler::admit(std::unique_lock<std::mutex>&) {
  while (!queue_.empty() && queue_.front()->req.sink->cancelled()) {
    queue_.pop_front();
    ++stats_.cancelled;
  }
  while (!queue_.empty() && static_cast<int>(active_.size()) < opt_.parallel && (!kv_full_ || active_.empty())) {
    auto seq = ctx_->open_sequence();
    if (!seq.has_value()) break;
    std::unique_ptr<Seq> s = std::move(queue_.front());
    queue_.pop_front();
    s->seq = *seq;
    s->n_cached = 0;
    active_.push_back(std::move(s));
    while (!queue_.empty() && queue_.front()->req.sink->cancelled()) {
      queue_.pop_front();
      ++stats_.cancelled;
    }
  }
  stats_.queued = static_cast<int64_t>(queue_.size());
  stats_.active = static_cast<int64_t>(active_.size());
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock l(mu_);
      admit(l);
      if (stop_) break;
      if (active_.empty()) {
        cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
        continue;
      }
    }
    drop_cancelled();
    if (!active_.empty()) step();
  }
  // Stopping: every request still here is told.
  for (auto& s : active_) s->req.sink->on_error(503, "server: stopping");
  std::lock_guard l(mu_);
  for (auto& s : queue_) s->req.sink->on_error(503, "server: stopping");
  queue_.clear();
}

void Scheduler::drop_cancelled() {
  size_t kept = 0;
  int64_t dropped = 0;
  for (auto& s : active_) {
    if (s->req.sink->cancelled()) {
      (void)ctx_->close_sequence(s->seq);
      ++dropped;
      kv_full_ = false;
      continue;
    }
    active_[kept++] = std::move(s);
  }
  active_.resize(kept);
  if (dropped > 0) {
    std::lock_guard l(mu_);
    stats_.cancelled += dropped;
    stats_.active = static_cast<int64_t>(active_.size());
  }
}

// One decode token per running sequence, then prompt chunks, oldest sequence first.
size_t Scheduler::build_batch() {
  batch_.clear();
  logits_owner_.clear();
  for (auto& s : active_) {
    s->in_batch = 0;
    if (s->remaining() != 1 || static_cast<int64_t>(batch_.size()) == n_batch_) continue;
    batch_.push_back({s->tokens[static_cast<size_t>(s->n_cached)], s->seq, s->n_cached, true});
    logits_owner_.push_back(s.get());
    s->in_batch = 1;
  }
  int64_t budget = std::min<int64_t>(opt_.prefill_chunk, n_batch_ - static_cast<int64_t>(batch_.size()));
  for (auto& s : active_) {
    const int64_t r = s->remaining();
    if (r <= 1 || budget <= 0) continue;
    const int64_t take = std::min(r, budget);
    for (int64_t j = 0; j < take; ++j) {
      const int64_t pos = s->n_cached + j;
      const bool last = j == r - 1;
      batch_.push_back({s->tokens[static_cast<size_t>(pos)], s->seq, pos, last});
      logits_owner_.push_back(last ? s.get() : nullptr);
    }
    s->in_batch = take;
    budget -= take;
  }
  return batch_.size();
}

bool Scheduler::step() {
  const size_t n = build_batch();
  if (n == 0) return false;
  const Status st = ctx_->eval(std::span<const BatchEntry>(batch_.data(), n));
  if (!st.is_ok()) {
    if (st.code() == StatusCode::kResourceExhausted && active_.size() > 1) {
      preempt_youngest();
      return true;
    }
    // Alone and still refused, or a failure of the forward pass: the requests cannot be served.
    const int status = st.code() == StatusCode::kResourceExhausted ? 503 : 500;
    for (auto& s : active_) {
      if (status == 503 && s->in_batch == 0) continue;
      s->req.sink->on_error(status, "server: " + st.message());
      (void)ctx_->close_sequence(s->seq);
      s->done = true;
    }
  } else {
    after_eval(n);
  }
  std::erase_if(active_, [](const std::unique_ptr<Seq>& s) { return s->done; });
  {
    std::lock_guard l(mu_);
    ++stats_.steps;
  }
  update_memory_stats();
  return true;
}

void Scheduler::after_eval(size_t n) {
  int64_t prompt_tokens = 0;
  for (auto& s : active_) {
    if (s->n_cached < s->n_prompt) prompt_tokens += std::min(s->in_batch, s->n_prompt - s->n_cached);
    s->n_cached += s->in_batch;
  }
  int64_t generated = 0;
  for (size_t i = 0; i < n; ++i) {
    Seq* s = logits_owner_[i];
    if (s == nullptr) continue;
    sample_next(*s, ctx_->logits(static_cast<int64_t>(i)));
    ++generated;
  }
  std::lock_guard l(mu_);
  stats_.prompt_tokens += prompt_tokens;
  stats_.generated_tokens += generated;
}

void Scheduler::sample_next(Seq& s, std::span<const float> logits) {
  const Token t = s.sampler->sample(logits);
  if (++s.n_generated == 1) {
    const double ttft = mono_seconds() - s.t_submit;
    std::lock_guard l(mu_);
    size_t b = 0;
    while (b < SchedulerStats::kTtftBuckets && ttft > SchedulerStats::kTtftBounds[b]) ++b;
    ++stats_.ttft_counts[b];
    stats_.ttft_sum += ttft;
    ++stats_.ttft_count;
  }
  const auto& stops = s.req.stop_tokens;
  if (std::find(stops.begin(), stops.end(), t) != stops.end()) {
    finish(s, FinishReason::kStop);
    return;
  }
  if (s.req.top_logprobs >= 0) s.held_lp.push_back(token_logprob(logits, t, s.req.top_logprobs));
  s.sampler->accept(t);
  const std::string piece = tok_.decode_piece(s.prev, t);
  s.prev = t;
  s.tokens.push_back(t);
  emit(s, piece);
  if (s.done) return;
  // The new token goes at position tokens.size() - 1 next step: it must be below n_ctx.
  if (s.n_generated >= s.req.max_tokens || static_cast<int64_t>(s.tokens.size()) > n_ctx_) finish(s, FinishReason::kLength);
}

// Appends a token's text; passes on what no stop string can still claim; ends at a stop string.
void Scheduler::emit(Seq& s, std::string_view piece) {
  s.held.append(piece);
  for (const std::string& stop : s.req.stop) {
    const size_t at = s.held.find(stop);
    if (at == std::string::npos) continue;
    s.held.resize(at);
    finish(s, FinishReason::kStop);
    return;
  }
  const size_t cut = utf8_cut(s.held, s.held.size() - stop_prefix_suffix(s.held, s.req.stop));
  if (cut == 0) return;
  s.req.sink->on_text(std::string_view(s.held).substr(0, cut), s.held_lp);
  s.held.erase(0, cut);
  s.held_lp.clear();
}

void Scheduler::finish(Seq& s, FinishReason reason) {
  if (!s.held.empty()) {
    s.req.sink->on_text(s.held, s.held_lp);
    s.held.clear();
    s.held_lp.clear();
  }
  s.req.sink->on_finish({reason, s.n_prompt, s.n_generated});
  (void)ctx_->close_sequence(s.seq);
  s.done = true;
  kv_full_ = false;
}

// Recompute preemption: the youngest sequence gives its KV pages back and waits at the head of
// the queue with every token it has; its sampler and text state stay.
void Scheduler::preempt_youngest() {
  std::unique_ptr<Seq> s = std::move(active_.back());
  active_.pop_back();
  (void)ctx_->close_sequence(s->seq);
  MNEMO_LOG_INFO("server: KV pool full: sequence %d preempted (%zu tokens to recompute)", s->seq, s->tokens.size());
  s->seq = -1;
  s->n_cached = 0;
  kv_full_ = true;
  std::lock_guard l(mu_);
  queue_.push_front(std::move(s));
  ++stats_.preemptions;
}

}  // namespace mnemo::server
