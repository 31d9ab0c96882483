// server/scheduler.h: continuous batching (Orca, Yu et al., OSDI 2022) with chunked prefill
// (Sarathi, Agrawal et al. 2023) over one Context.
//
// One engine thread owns the Context. Each step it builds one batch (Context::eval over
// BatchEntry, one weight pass for every sequence in it):
//   1. one decode token of every running sequence (logits kept);
//   2. then prompt tokens of sequences still prefilling, oldest first, at most `prefill_chunk` in
//      all per step (and never past n_batch), so a long prompt delays the others' next token by
//      one chunk, not by the whole prompt; logits kept only for a chunk that ends its prompt.
// After the pass each sequence with logits samples its next token with its own Sampler (its own
// RNG, seeded by the request), hands the text to its Sink and stops at an end token, a stop
// string, max_tokens or the context's end. Requests wait in a FIFO queue; at most `parallel`
// sequences run (one Context sequence each).
//
// Preemption by recompute (vLLM, Kwon et al., SOSP 2023, section 4.5): when the KV pool refuses a
// batch (kResourceExhausted, nothing committed), the youngest running sequence is closed (its KV
// pages returned) and put back at the head of the queue with its tokens so far (prompt and
// generated); when it is admitted again those tokens are prefilled anew and generation continues
// where it stopped, with the same sampler state, so its text is what it would have been. Swapping
// KV to host memory is not done: the KV is already in host memory, and recompute needs no bytes.
//
// A sequence whose Sink says cancelled() (the client left) is closed at the start of the next step.
// Thread-safety: submit(), stats() and stop() from any thread; Sinks are called on the engine thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mnemo/context.h"
#include "mnemo/sampler.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo::server {

// A generated token's log-probability and its top alternatives (natural log, of the model's
// distribution before temperature, as OpenAI reports).
struct TokenLogprob {
  Token token = -1;
  float logprob = 0;
  std::vector<std::pair<Token, float>> top;  // most likely first
};

enum class FinishReason { kStop, kLength };

struct FinishInfo {
  FinishReason reason = FinishReason::kStop;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// Receives one request's output on the engine thread. Must not block.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool cancelled() const = 0;
  // Text that is final (stop strings and incomplete UTF-8 held back), with the log-probabilities of
  // the tokens it came from when asked for (empty otherwise; a token's text may come later).
  virtual void on_text(std::string_view text, std::span<const TokenLogprob> logprobs) = 0;
  virtual void on_finish(const FinishInfo& info) = 0;
  // The request cannot be served (the KV pool cannot hold it even alone): an HTTP status, a message.
  virtual void on_error(int status, const std::string& message) = 0;
};

struct GenerationRequest {
  std::vector<Token> prompt;       // BOS first when the vocabulary adds one
  int64_t max_tokens = 0;          // >= 1, prompt + max_tokens <= n_ctx (the server checks)
  SamplerParams sampling;
  std::vector<Token> stop_tokens;  // EOS, BOS, the chat template's end-of-turn tokens
  std::vector<std::string> stop;   // stop strings (not included in the text)
  int top_logprobs = -1;           // -1: no log-probabilities
  std::shared_ptr<Sink> sink;
};

struct SchedulerOptions {
  int parallel = 4;             // sequences at once (<= the Context's n_seq_max)
  int64_t prefill_chunk = 128;  // prompt tokens per step, all prefilling sequences together
  size_t max_queue = 64;        // requests waiting for a sequence; beyond, submit() refuses
};

struct SchedulerStats {
  int64_t queued = 0, active = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0;  // totals
  int64_t steps = 0, preemptions = 0, cancelled = 0;
  uint64_t kv_committed_bytes = 0, kv_reserved_bytes = 0, kv_used_bytes = 0;
  // Time to first token (admission to the queue -> first text), seconds: a histogram.
  static constexpr double kTtftBounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  static constexpr size_t kTtftBuckets = sizeof(kTtftBounds) / sizeof(double);
  uint64_t ttft_counts[kTtftBuckets + 1] = {};  // the last: +Inf
  double ttft_sum = 0;
  uint64_t ttft_count = 0;
};

class Scheduler {
 public:
  // ctx is owned by the scheduler's thread from start() on; tokenizer outlives the scheduler.
  Scheduler(std::unique_ptr<Context> ctx, const Tokenizer& tokenizer, const SchedulerOptions& options);
  ~Scheduler();  // stop() and join
  void start();
  void stop();
  // Queues a request; kResourceExhausted when the queue is full (the caller answers 503).
  Status submit(GenerationRequest req);
  SchedulerStats stats() const;
  int64_t n_ctx() const { return n_ctx_; }

  struct Seq;

 private:
  void loop();
  void admit(std::unique_lock<std::mutex>& lock);
  void drop_cancelled();
  bool step();
  size_t build_batch();
  void after_eval(size_t n_entries);
  void sample_next(Seq& s, std::span<const float> logits);
  void emit(Seq& s, std::string_view piece);
  void finish(Seq& s, FinishReason reason);
  void preempt_youngest();
  void update_memory_stats();

  std::unique_ptr<Context> ctx_;
  const Tokenizer& tok_;
  SchedulerOptions opt_;
  int64_t n_ctx_ = 0;
  int64_t n_batch_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Seq>> queue_;  // guarded by mu_
  bool stop_ = false;
  SchedulerStats stats_;                    // guarded by mu_

  std::vector<std::unique_ptr<Seq>> active_;  // engine thread only, admission order
  std::vector<BatchEntry> batch_;             // reused each step
  std::vector<Seq*> logits_owner_;            // per batch entry: the sequence sampling from it, or null
  bool kv_full_ = false;                      // engine thread: a preemption happened, no admission until a sequence ends
  std::thread thread_;
};

}  // namespace mnemo::server
