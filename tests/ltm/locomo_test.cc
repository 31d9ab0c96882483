// LoCoMo dev conversations ($MNEMO_DATA/memory/locomo_dev.json): the built-in retriever (hash
// embedder, no LLM) against plain BM25 on the same turns. The bars are the margins
// (recall@10, mean of categories 1-4: +0.06; category 1: +0.05), checked on the dev set; the
// held-out conversations are scored by the maintainers.
#include <gtest/gtest.h>

#include "mnemo/memory.h"
#include "test_util.h"

namespace mnemo::ltm {
namespace {

double row(const LocomoSystemResult& s, int category, size_t k_index) {
  for (const auto& r : s.rows)
    if (r.category == category) return r.recall[k_index];
  return -1;
}

TEST(Locomo, BeatsPlainBm25OnDevConversations) {
  MNEMO_REQUIRE_DATA("memory/locomo_dev.json");
  LocomoOptions o;
  auto r = eval_locomo(test::data_path("memory/locomo_dev.json"), o);
  ASSERT_TRUE(r) << r.status().message();
  std::printf("%s", r->to_table().c_str());
  ASSERT_EQ(r->systems.size(), 2u);
  const auto& ours = r->systems[0];
  const auto& bm25 = r->systems[1];
  const size_t k10 = 2;  // ks = {1, 5, 10, 50}
  EXPECT_GE(row(ours, 0, k10), row(bm25, 0, k10) + 0.06);
  EXPECT_GE(row(ours, 1, k10), row(bm25, 1, k10) + 0.05);
  EXPECT_GE(row(ours, -1, k10), row(bm25, -1, k10) + 0.06);
  // Plain BM25 reproduces the published baseline's level (0.59 over all 10 conversations).
  EXPECT_NEAR(row(bm25, -1, k10), 0.55, 0.08);
}

}  // namespace
}  // namespace mnemo::ltm
