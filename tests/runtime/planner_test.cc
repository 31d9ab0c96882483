// The memory planner states every allocation and refuses plans over budget.
#include "memory/planner.h"

#include "test_util.h"

namespace mnemo {
namespace {

LlamaConfig stories260k() {
  LlamaConfig c;
  c.n_vocab = 512;
  c.n_embd = 64;
  c.n_layer = 5;
  c.n_head = 8;
  c.n_head_kv = 4;
  c.head_dim = 8;
  c.n_ff = 172;
  c.n_ctx_train = 512;
  return c;
}

TEST(Planner, SizesFromShape) {
  MemoryRequest r;
  r.n_ctx = 256;
  r.n_batch = 1024;
  auto p = plan_memory(stories260k(), 1000000, r);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->n_ctx, 256);
  EXPECT_EQ(p->n_batch, 256);  // capped at the context
  EXPECT_EQ(p->kv_bytes, 2ull * 5 * 256 * 32 * 4);
  EXPECT_EQ(p->weight_resident_bytes, 0u);
  r.weights_resident = true;
  EXPECT_EQ(plan_memory(stories260k(), 1000000, r)->weight_resident_bytes, 1000000u);
  r.n_ctx = 0;
  EXPECT_EQ(plan_memory(stories260k(), 1000000, r)->n_ctx, 512);
}

TEST(Planner, RefusesOverBudget) {
  MemoryRequest r;
  r.n_ctx = 512;
  r.budget_bytes = 100000;
  auto p = plan_memory(stories260k(), 1000000, r);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(p.status().message().find("KV"), std::string::npos) << p.status().message();
}

TEST(Planner, CountsKernelWorkspaceForThePlannedBatch) {
  MemoryRequest r;
  r.n_ctx = 128;
  r.n_batch = 512;
  const uint64_t without = plan_memory(stories260k(), 1000000, r)->activation_bytes;
  int64_t asked = 0;
  r.workspace_bytes = [&](int64_t n_batch) {
    asked = n_batch;
    return uint64_t{3} << 20;
  };
  auto p = plan_memory(stories260k(), 1000000, r);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(asked, 128);  // the batch the plan settled on
  EXPECT_EQ(p->workspace_bytes, uint64_t{3} << 20);
  EXPECT_EQ(p->activation_bytes, without + (uint64_t{3} << 20));
  r.budget_bytes = p->total_bytes() - 1;
  EXPECT_FALSE(plan_memory(stories260k(), 1000000, r).has_value());
  r.budget_bytes = p->total_bytes();
  EXPECT_TRUE(plan_memory(stories260k(), 1000000, r).has_value());
}

}  // namespace
}  // namespace mnemo
