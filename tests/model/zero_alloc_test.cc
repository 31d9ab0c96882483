// Decoding allocates nothing: every global operator new and every malloc-family call of the
// process is counted (this binary replaces them), and decode steps 2..64 of a Context (forward and
// sampling, greedy and top-p, 2 threads) must make none; nor must batched decode steps of several
// sequences (Context::eval of a batch, one token per sequence, sampled from each one's logits),
// nor closing, truncating and reopening sequences between them. Models: the shared stories260K files
// (F32, Q8_0, Q4_0) and small generated models of every type mnemo writes (F32, F16, BF16, Q8_0,
// Q4_0), llama and qwen2 (biases, NeoX RoPE).
#include <malloc.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>

#include <cstdio>
#include <string>
#include <vector>

#include "mnemo/convert.h"
#include "mnemo/mnemo.h"
#include "test_util.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocs{0};
inline void count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

// The malloc family, forwarded to glibc's implementation.
extern "C" {
void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  count();
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void free(void* p) { __libc_free(p); }
void* memalign(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}
void* aligned_alloc(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  count();
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}

// Every replaceable global operator new (the nothrow and array forms route through these).
void* operator new(size_t n) {
  count();
  if (void* p = __libc_malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, std::align_val_t a) {
  count();
  if (void* p = __libc_memalign(static_cast<size_t>(a), n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  count();
  return __libc_malloc(n == 0 ? 1 : n);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  count();
  return __libc_malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }

namespace mnemo {
namespace {

// Allocations made by decode steps 2..64 (after a prompt) with the given sampler.
// With a KV budget policy, tokens go at the cache position (n_past) and the 64 steps compact the
// sequence several times.
long decode_allocations(const Model& model, const SamplerParams& sp, const std::string& type_k = "",
                        const std::string& type_v = "", const std::string& policy = "",
                        const std::string& budget = "") {
  ContextParams cp;
  cp.n_ctx = 96;
  cp.n_batch = 16;
  cp.type_k = type_k;
  cp.type_v = type_v;
  cp.kv_policy = policy;
  cp.kv_budget = budget;
  cp.kv_sinks = 2;
  auto ctx = Context::create(model, cp);
  EXPECT_TRUE(ctx.has_value()) << ctx.status().message();
  if (!ctx.has_value()) return -1;
  Sampler sampler(static_cast<int32_t>(model.info().n_vocab), sp);
  std::vector<Token> prompt = {1, 5, 9, 13, 17, 21, 25};
  for (Token& t : prompt) t %= static_cast<Token>(model.info().n_vocab);
  EXPECT_TRUE((*ctx)->eval(prompt, 0).is_ok());
  for (Token t : prompt) sampler.accept(t);
  Token tok = 0;
  // Step 1: the first decode step, not counted (it may touch memory for the first time).
  tok = sampler.sample((*ctx)->logits());
  sampler.accept(tok);
  Status st = (*ctx)->eval(std::span<const Token>(&tok, 1), (*ctx)->n_past());
  EXPECT_TRUE(st.is_ok());
  g_allocs.store(0);
  g_counting.store(true);
  for (int step = 2; step <= 64; ++step) {
    tok = sampler.sample((*ctx)->logits());
    sampler.accept(tok);
    st = (*ctx)->eval(std::span<const Token>(&tok, 1), (*ctx)->n_past());
    if (!st.is_ok()) break;
  }
  g_counting.store(false);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return g_allocs.load();
}

// Allocations made by batched decode steps 2..32 of 6 sequences (prompts of different lengths in
// one batch first), with sequences ended and new ones started between steps.
long batched_decode_allocations(const Model& model, const SamplerParams& sp, const std::string& type_k = "",
                                const std::string& type_v = "") {
  constexpr int kSeqs = 6;
  ContextParams cp;
  cp.n_ctx = 64;
  cp.n_batch = 32;
  cp.n_seq_max = kSeqs;
  cp.type_k = type_k;
  cp.type_v = type_v;
  auto ctx = Context::create(model, cp);
  EXPECT_TRUE(ctx.has_value()) << ctx.status().message();
  if (!ctx.has_value()) return -1;
  Context& c = **ctx;
  const Token n_vocab = static_cast<Token>(model.info().n_vocab);
  Sampler sampler(n_vocab, sp);
  std::array<BatchEntry, 32> batch{};
  std::array<Token, kSeqs> next{};
  size_t n = 0;
  for (SeqId s = 0; s < kSeqs; ++s) {
    if (s > 0) {
      EXPECT_TRUE(c.open_sequence().has_value());
    }
    for (int k = 0; k <= s; ++k) batch[n++] = BatchEntry{(s * 7 + k) % n_vocab, s, k, k == s};
  }
  EXPECT_TRUE(c.eval(std::span<const BatchEntry>(batch.data(), n)).is_ok());
  Status st = Status::ok();
  for (int step = 1; step <= 32 && st.is_ok(); ++step) {
    if (step == 2) {
      g_allocs.store(0);
      g_counting.store(true);
    }
    for (size_t e = 0; e < n; ++e) {
      if (batch[e].logits) next[static_cast<size_t>(batch[e].seq)] = sampler.sample(c.logits(static_cast<int64_t>(e)));
    }
    if (step % 8 == 0) {  // sequence 1 ends and a new one takes its place; sequence 2 is cut back
      st = c.close_sequence(1);
      if (st.is_ok()) st = c.open_sequence().status();
      if (st.is_ok()) st = c.truncate_sequence(2, c.sequence_length(2) / 2);
    }
    n = 0;
    for (SeqId s = 0; s < kSeqs && st.is_ok(); ++s) batch[n++] = BatchEntry{next[static_cast<size_t>(s)], s, c.sequence_length(s), true};
    if (st.is_ok()) st = c.eval(std::span<const BatchEntry>(batch.data(), n));
  }
  g_counting.store(false);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return g_allocs.load();
}

void expect_no_allocations(const Model& model, const std::string& label) {
  SamplerParams greedy;
  greedy.temperature = 0.0f;
  SamplerParams top_p;
  top_p.temperature = 0.8f;
  top_p.top_k = 0;
  top_p.top_p = 0.9f;
  top_p.min_p = 0.0f;
  top_p.repeat_penalty = 1.1f;
  top_p.seed = 7;
  EXPECT_EQ(decode_allocations(model, greedy), 0) << label << " greedy";
  EXPECT_EQ(decode_allocations(model, top_p), 0) << label << " top-p";
  EXPECT_EQ(batched_decode_allocations(model, greedy), 0) << label << " batched greedy";
  EXPECT_EQ(batched_decode_allocations(model, top_p), 0) << label << " batched top-p";
}

// The counter works: it sees an allocation.
TEST(ZeroAlloc, CounterCountsAllocations) {
  g_allocs.store(0);
  g_counting.store(true);
  auto* v = new std::vector<int>(100);
  void* p = std::malloc(10);
  g_counting.store(false);
  delete v;
  std::free(p);
  EXPECT_GE(g_allocs.load(), 3);
}

TEST(ZeroAlloc, DecodeStories260K) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  for (const char* file : {"models/stories260K.bin", "models/stories260K-Q8_0.gguf", "models/stories260K-Q4_0.gguf"}) {
    ModelParams mp;
    if (std::string(file).ends_with(".bin")) mp.tokenizer_path = test::data_path("models/tok512.bin");
    auto model = Model::load(test::data_path(file), mp);
    ASSERT_TRUE(model.has_value()) << model.status().message();
    expect_no_allocations(**model, file);
  }
}

// Every KV cache type: rows are converted into the cache in place, nothing is allocated per token,
// for one sequence or a batch of several.
TEST(ZeroAlloc, DecodeQuantizedKvCache) {
  const std::string path = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf";
  ASSERT_TRUE(test::exists(path)) << path;
  auto model = Model::load(path);
  ASSERT_TRUE(model.has_value()) << model.status().message();
  SamplerParams greedy;
  greedy.temperature = 0.0f;
  for (const auto& [k, v] :
       {std::pair{"q8_0", "q8_0"}, {"q4_0", "q4_0"}, {"f16", "q4_0"}, {"q8_0", "f32"}}) {
    EXPECT_EQ(decode_allocations(**model, greedy, k, v), 0) << "K " << k << " V " << v;
    EXPECT_EQ(batched_decode_allocations(**model, greedy, k, v), 0) << "batched, K " << k << " V " << v;
  }
}

// Every KV budget policy compacts without allocating (its scores and scratch are sized at
// creation), for every cache type: a budget of 24 slots, 71 tokens.
TEST(ZeroAlloc, DecodeWithKvPolicies) {
  const std::string path = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf";
  ASSERT_TRUE(test::exists(path)) << path;
  auto model = Model::load(path);
  ASSERT_TRUE(model.has_value()) << model.status().message();
  SamplerParams greedy;
  greedy.temperature = 0.0f;
  for (const char* policy : {"window", "sinks", "h2o", "kvmerger"}) {
    for (const char* type : {"f32", "f16", "q8_0", "q4_0"}) {
      EXPECT_EQ(decode_allocations(**model, greedy, type, type, policy, "24"), 0) << policy << " " << type;
    }
  }
}

TEST(ZeroAlloc, DecodeGeneratedModels) {
  const std::string dir = test::temp_dir();
  for (const char* dtype : {"F32", "F16", "BF16", "Q8_0", "Q4_0"}) {
    for (const char* arch : {"llama", "qwen2"}) {
      GenModelParams gp;
      gp.shape = "tiny";
      gp.dtype = dtype;
      gp.arch = arch;
      gp.output = dir + "/tiny-" + dtype + "-" + arch + ".gguf";
      ASSERT_TRUE(generate_model(gp).is_ok());
      auto model = Model::load(gp.output);
      ASSERT_TRUE(model.has_value()) << model.status().message();
      expect_no_allocations(**model, gp.output);
      std::remove(gp.output.c_str());
    }
  }
}

}  // namespace
}  // namespace mnemo
