// The Engine: one budget that every model and context leases from, one pool they share.
#include "mnemo/engine.h"

#include "mnemo/mnemo.h"
#include "test_util.h"

namespace mnemo {
namespace {

const char* kModel = "models/stories260K.gguf";

std::shared_ptr<Engine> engine_with(uint64_t budget, int threads = 1) {
  EngineParams p;
  p.budget_bytes = budget;
  p.n_threads = threads;
  auto e = Engine::create(p);
  EXPECT_TRUE(e.has_value()) << e.status().message();
  return e.has_value() ? *e : nullptr;
}

Expected<std::unique_ptr<Model>> load(const std::shared_ptr<Engine>& e) {
  ModelParams mp;
  mp.engine = e;
  return Model::load(test::data_path(kModel), mp);
}

TEST(Engine, CountsTheRuntimeModelAndContextAndReturnsThem) {
  MNEMO_REQUIRE_DATA(kModel);
  auto e = engine_with(uint64_t{4} << 30, 2);
  const uint64_t runtime = e->used_bytes();
  EXPECT_GT(runtime, 0u);  // the process itself
  {
    auto m = load(e);
    ASSERT_TRUE(m.has_value()) << m.status().message();
    EXPECT_EQ((*m)->memory().leased_bytes, e->used_bytes() - runtime);
    EXPECT_GE((*m)->memory().leased_bytes, (*m)->info().weight_bytes);
    auto c = Context::create(**m, {});
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ((*c)->n_threads(), 2);  // the engine's pool
    const ContextMemory cm = (*c)->memory();
    EXPECT_EQ(e->used_bytes(), runtime + (*m)->memory().leased_bytes + cm.kv_reserved_bytes + cm.activation_bytes);
    EXPECT_NE(e->describe().find("KV cache"), std::string::npos);
  }
  EXPECT_EQ(e->used_bytes(), runtime);
}

TEST(Engine, WeightsOverTheBudgetAreRefusedBeforeLoading) {
  MNEMO_REQUIRE_DATA(kModel);
  auto probe = engine_with(0);
  const uint64_t runtime = probe->used_bytes();
  auto e = engine_with(runtime + 100000);  // stories260K.gguf is 1.1 MB
  auto m = load(e);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(m.status().message().find("weights of"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("missing"), std::string::npos) << m.status().message();
}

TEST(Engine, ContextShrinksItsBatchToFitThenRefusesWithWhatItNeeds) {
  MNEMO_REQUIRE_DATA(kModel);
  auto probe = engine_with(0);
  auto pm = load(probe);
  ASSERT_TRUE(pm.has_value());
  ContextParams cp;
  cp.n_ctx = 512;
  cp.n_batch = 512;
  auto full = Context::create(**pm, cp);
  ASSERT_TRUE(full.has_value());
  const uint64_t model_bytes = (*pm)->memory().leased_bytes;
  const uint64_t ctx_bytes = (*full)->memory().kv_reserved_bytes + (*full)->memory().activation_bytes;
  full->reset();
  pm->reset();

  // The runtime's lease is the process's RSS when an engine is created: measure it again now.
  const uint64_t runtime = engine_with(0)->used_bytes();
  auto e = engine_with(runtime + (64 << 10) + model_bytes + ctx_bytes * 3 / 4);
  auto m = load(e);
  ASSERT_TRUE(m.has_value()) << m.status().message();
  auto c = Context::create(**m, cp);
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_LT((*c)->n_batch(), 512);
  EXPECT_NE((*c)->memory().adjusted.find("batch 512 -> "), std::string::npos);
  EXPECT_LE(e->used_bytes(), e->budget_bytes());
  // A second context does not fit in what is left: refused, naming what it needs.
  auto c2 = Context::create(**m, cp);
  ASSERT_FALSE(c2.has_value());
  EXPECT_EQ(c2.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(c2.status().message().find("the context needs"), std::string::npos) << c2.status().message();
}

TEST(Engine, ModelsShareThePoolAndTheBudget) {
  MNEMO_REQUIRE_DATA(kModel);
  auto e = engine_with(uint64_t{4} << 30, 2);
  auto a = load(e), b = load(e);
  ASSERT_TRUE(a.has_value() && b.has_value());
  auto ca = Context::create(**a, {}), cb = Context::create(**b, {});
  ASSERT_TRUE(ca.has_value() && cb.has_value());
  std::vector<Token> t = {1, 100, 200};
  ASSERT_TRUE((*ca)->eval(t, 0).is_ok());
  ASSERT_TRUE((*cb)->eval(t, 0).is_ok());
  const auto la = (*ca)->logits(), lb = (*cb)->logits();
  EXPECT_TRUE(std::equal(la.begin(), la.end(), lb.begin()));
  EXPECT_EQ(&(*a)->engine(), &(*b)->engine());
}

TEST(Engine, BadBudgets) {
  EXPECT_FALSE(parse_memory_budget("lots").has_value());
  EXPECT_FALSE(parse_memory_budget("1000T").has_value());  // above physical memory
  auto r = parse_memory_budget("1000T");
  EXPECT_NE(r.status().message().find("above"), std::string::npos) << r.status().message();
  EXPECT_TRUE(parse_memory_budget("50%").has_value());
  EngineParams p;
  p.budget_bytes = 4096;  // less than the runtime itself
  auto e = Engine::create(p);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.status().message().find("runtime needs"), std::string::npos) << e.status().message();
}

TEST(Engine, ThreadsAboveTheCpusAreCapped) {
  EngineParams p;
  p.n_threads = 100000;
  auto e = Engine::create(p);
  ASSERT_TRUE(e.has_value());
  EXPECT_LE((*e)->n_threads(), static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace mnemo
