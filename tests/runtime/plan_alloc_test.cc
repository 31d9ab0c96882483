// Planned bytes are allocated bytes: every global operator new of this binary is counted, and a
// Context's creation must allocate exactly the activation block its plan states (and lease), no
// large buffer outside it; its KV reservation must equal the plan's KV bytes: n_seq_max slots of
// n_ctx positions at what kv_cache_types() says a position costs, each layer's K and V rounded up
// to whole pages (the vAttention cache commits pages). Models: stories260K (F32 with its default F32 cache,
// Q4_0 with the default F16 one) and mnemo-stories (head size 32) with Q8_0/Q4_0/mixed caches, at
// several shapes, thread counts and logits_all.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#include "mnemo/mnemo.h"
#include "test_util.h"

extern "C" void* __libc_memalign(size_t, size_t);
extern "C" void* __libc_malloc(size_t);
extern "C" void __libc_free(void*);

namespace {
std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_large_bytes{0};  // allocations of at least 4 KiB while counting
inline void count(size_t n) {
  if (g_counting.load(std::memory_order_relaxed) && n >= 4096) g_large_bytes.fetch_add(n, std::memory_order_relaxed);
}
}  // namespace

void* operator new(size_t n) {
  count(n);
  if (void* p = __libc_malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, std::align_val_t a) {
  count(n);
  if (void* p = __libc_memalign(static_cast<size_t>(a), n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
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

uint64_t leased(const Engine& e, const std::string& part) {
  uint64_t b = 0;
  for (const EngineLease& l : e.leases()) b += l.part == part ? l.bytes : 0;
  return b;
}

struct Case {
  std::string path;
  std::string type_k, type_v;  // "": the default
};

TEST(PlanAlloc, ContextAllocatesExactlyItsPlan) {
  const std::string ms = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf";
  MNEMO_REQUIRE_DATA("models/stories260K-Q4_0.gguf");
  const Case cases[] = {{test::data_path("models/stories260K.gguf"), "", ""},
                        {test::data_path("models/stories260K-Q4_0.gguf"), "", ""},
                        {ms, "q8_0", "q8_0"},
                        {ms, "q4_0", "f16"}};
  for (const Case& c : cases) {
    ASSERT_TRUE(test::exists(c.path)) << c.path;
    for (int threads : {1, 2}) {
      EngineParams ep;
      ep.n_threads = threads;
      auto engine = Engine::create(ep);
      ASSERT_TRUE(engine.has_value()) << engine.status().message();
      ModelParams mp;
      mp.engine = *engine;
      auto model = Model::load(c.path, mp);
      ASSERT_TRUE(model.has_value()) << model.status().message();
      auto kv = kv_cache_types(**model, c.type_k, c.type_v);
      ASSERT_TRUE(kv.has_value()) << kv.status().message();
      // One layer's K row and V row: a cache of K's (V's) type for both, per 2 * n_layer rows.
      const uint64_t L = static_cast<uint64_t>((*model)->info().n_layer);
      auto k_only = kv_cache_types(**model, kv->type_k, kv->type_k);
      auto v_only = kv_cache_types(**model, kv->type_v, kv->type_v);
      ASSERT_TRUE(k_only.has_value() && v_only.has_value());
      const uint64_t k_row = k_only->bytes_per_position / (2 * L), v_row = v_only->bytes_per_position / (2 * L);
      const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
      auto pages = [&](uint64_t b) { return (b + page - 1) / page * page; };
      for (auto [n_ctx, n_batch, all, n_seq] :
           {std::tuple{512, 512, false, 1}, {256, 64, true, 1}, {100, 7, false, 1}, {100, 32, false, 3}}) {
        ContextParams cp;
        cp.n_ctx = n_ctx;
        cp.n_batch = n_batch;
        cp.logits_all = all;
        cp.n_seq_max = n_seq;
        cp.type_k = c.type_k;
        cp.type_v = c.type_v;
        g_large_bytes = 0;
        g_counting = true;
        auto ctx = Context::create(**model, cp);
        g_counting = false;
        ASSERT_TRUE(ctx.has_value()) << ctx.status().message();
        const ContextMemory m = (*ctx)->memory();
        SCOPED_TRACE(c.path + " K " + m.type_k + " V " + m.type_v + " threads " +
                     std::to_string(threads) + " n_ctx " + std::to_string(n_ctx) + " sequences " +
                     std::to_string(n_seq));
        EXPECT_EQ(g_large_bytes.load(), m.activation_bytes);
        EXPECT_EQ(leased(**engine, "activations"), m.activation_bytes);
        EXPECT_EQ(leased(**engine, "KV cache"), m.kv_reserved_bytes);
        EXPECT_EQ(k_row + v_row, kv->bytes_per_position / L);
        const uint64_t N = static_cast<uint64_t>(n_ctx);
        EXPECT_EQ(m.kv_reserved_bytes, static_cast<uint64_t>(n_seq) * L * (pages(N * k_row) + pages(N * v_row)));
        EXPECT_EQ(m.kv_address_bytes, m.kv_reserved_bytes);
        EXPECT_EQ(m.type_k, kv->type_k);
        EXPECT_EQ(m.type_v, kv->type_v);
        EXPECT_GT(m.workspace_bytes, 0u);
        // The block is sized for what the forward pass touches: running a full batch fits in it.
        std::vector<Token> toks(static_cast<size_t>((*ctx)->n_batch()), 1);
        ASSERT_TRUE((*ctx)->eval(toks, 0, all).is_ok());
        EXPECT_EQ((*ctx)->memory().kv_used_bytes,
                  static_cast<uint64_t>((*ctx)->n_batch()) * kv->bytes_per_position);
      }
    }
  }
}

}  // namespace
}  // namespace mnemo
