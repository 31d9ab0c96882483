// The LLM-dependent paths against a scripted stub endpoint on loopback: the embeddings client,
// A-MEM note construction and evolution, the SCM chat controller with the Actor fast path, and
// the evaluation's answerer/judge. Protocol and control flow only.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>

#include "mnemo/memory.h"
#include "stub_llm.h"
#include "test_util.h"

namespace mnemo::ltm {
namespace {

using json = nlohmann::json;
using test::StubLlm;

bool has(const std::string& s, const char* frag) { return s.find(frag) != std::string::npos; }

MemoryConfig base_config() {
  MemoryConfig c;
  c.dir = mnemo::test::temp_dir();
  c.embedder.dim = 64;
  c.background_maintenance = false;
  return c;
}

TEST(Llm, HttpEmbedderPlugsIn) {
  StubLlm stub([](const json&, const std::string&) { return ""; }, 8);
  MemoryConfig c = base_config();
  c.embedder.kind = "http";
  c.embedder.url = stub.url();
  c.embedder.dim = 0;
  auto svc = MemoryService::open(c);
  ASSERT_TRUE(svc) << svc.status().message();
  AddRequest a;
  a.scope = {"u"};
  a.text = "zzz zzz zzz";
  ASSERT_TRUE((*svc)->add(a));
  a.text = "aaa bbb";
  ASSERT_TRUE((*svc)->add(a));
  SearchRequest s;
  s.query = "zzz";
  s.filter.scope = {"u"};
  s.mode = SearchMode::kVector;
  s.k = 1;
  auto hits = (*svc)->search(s);
  ASSERT_TRUE(hits);
  EXPECT_EQ((*hits)[0].memory.text, "zzz zzz zzz");
  EXPECT_GE(stub.embed_calls(), 4);  // probe, two adds, one query
  EXPECT_EQ((*svc)->stats().embedder, "http:default:8");
  // A dimension that disagrees with the endpoint fails at open, clearly.
  MemoryConfig bad = base_config();
  bad.embedder = c.embedder;
  bad.embedder.dim = 16;
  auto s2 = MemoryService::open(bad);
  ASSERT_FALSE(s2);
  EXPECT_TRUE(has(s2.status().message(), "dimension")) << s2.status().message();
  // The model embedder waits for the inference core.
  MemoryConfig m = base_config();
  m.embedder.kind = "model";
  EXPECT_EQ(MemoryService::open(m).status().code(), StatusCode::kUnsupported);
}

TEST(Llm, NotesAreFilledAndNeighboursEvolve) {
  StubLlm stub([](const json&, const std::string& msg) -> std::string {
    if (has(msg, "structured analysis")) {
      if (has(msg, "violin lessons"))
        return R"(Sure! {"keywords": ["violin", "lessons"], "context": "Music practice of the user's son.",
                  "tags": ["music", "family"], "kind": "event"})";
      return R"({"keywords": ["concert"], "context": "A concert.", "tags": ["music"], "kind": "preference"})";
    }
    if (has(msg, "memory evolution agent")) {
      // Link to the first neighbour and rewrite its context.
      auto start = msg.find("\"id\":");
      std::string id = msg.substr(start + 5, msg.find_first_of(",}", start) - start - 5);
      return R"({"should_evolve": true, "actions": ["strengthen", "update_neighbor"], "suggested_connections": [)" +
             id + R"(], "tags_to_update": ["music"], "new_context_neighborhood": ["Son's violin, now with concerts."],
             "new_tags_neighborhood": [["music", "concerts"]]})";
    }
    return "?";
  });
  MemoryConfig c = base_config();
  c.llm.url = stub.url();
  auto svc = MemoryService::open(c);
  ASSERT_TRUE(svc) << svc.status().message();
  AddRequest a;
  a.scope = {"u"};
  a.text = "My son started violin lessons";
  auto first = (*svc)->add(a);
  ASSERT_TRUE(first);
  auto rec = (*svc)->get({"u"}, first->id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->keywords, (std::vector<std::string>{"violin", "lessons"}));
  EXPECT_EQ(rec->context, "Music practice of the user's son.");
  EXPECT_EQ(rec->kind, "event");
  a.text = "My son plays the violin at concerts now";
  auto second = (*svc)->add(a);
  ASSERT_TRUE(second);
  auto rec2 = (*svc)->get({"u"}, second->id);
  ASSERT_TRUE(rec2);
  EXPECT_EQ(rec2->kind, "preference");
  ASSERT_FALSE(rec2->links.empty());
  EXPECT_EQ(rec2->links[0], first->id);
  auto evolved = (*svc)->get({"u"}, first->id);
  EXPECT_EQ(evolved->context, "Son's violin, now with concerts.");
  EXPECT_EQ(evolved->tags, (std::vector<std::string>{"music", "concerts"}));
  auto hist = (*svc)->history({"u"}, first->id);
  ASSERT_TRUE(hist);
  ASSERT_EQ(hist->size(), 2u);
  EXPECT_EQ((*hist)[1].event, "EVOLVE");
  json d = json::parse((*hist)[1].detail_json);
  EXPECT_EQ(d["old_context"], "Music practice of the user's son.");
  EXPECT_EQ(d["by"], second->id);
  // The request was an OpenAI chat completion.
  auto reqs = stub.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs[0]["model"], "default");
  EXPECT_EQ(reqs[0]["messages"][0]["role"], "user");
}

TEST(Llm, BrokenLlmAnswersDoNotLoseTheAdd) {
  StubLlm stub([](const json&, const std::string&) { return "I cannot do that."; });
  MemoryConfig c = base_config();
  c.llm.url = stub.url();
  auto svc = MemoryService::open(c);
  ASSERT_TRUE(svc);
  AddRequest a;
  a.scope = {"u"};
  a.text = "A perfectly normal memory";
  auto r = (*svc)->add(a);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ((*svc)->get({"u"}, r->id)->kind, "fact");
  // An unreachable endpoint: the same.
  MemoryConfig d = base_config();
  d.llm.url = "http://127.0.0.1:1";
  d.llm.timeout_ms = 2000;
  auto svc2 = MemoryService::open(d);
  ASSERT_TRUE(svc2);
  EXPECT_TRUE((*svc2)->add(a));
}

TEST(Llm, ChatControllerBudgetsAndWritesBack) {
  std::atomic<int> answers{0};
  StubLlm stub([&](const json& req, const std::string& msg) -> std::string {
    if (has(msg, "Answer yes or no")) return has(msg, "New message: hello there") ? "No." : "Yes.";
    if (has(msg, "Which kinds of stored memory")) return "fact, preference";
    if (has(msg, "structured analysis")) return R"({"keywords": [], "context": "", "tags": [], "kind": "fact"})";
    if (has(msg, "memory evolution agent")) return R"({"should_evolve": false})";
    ++answers;
    std::string sys = req["messages"][0]["content"];
    return has(sys, "oat milk") ? "You like oat milk." : "I don't know.";
  });
  MemoryConfig c = base_config();
  auto svc = MemoryService::open(c);
  ASSERT_TRUE(svc);
  AddRequest a;
  a.scope = {"u"};
  a.kind = "preference";
  a.text = "The user prefers oat milk in coffee";
  ASSERT_TRUE((*svc)->add(a));
  a.kind = "event";
  a.text = "The user drank coffee with oat milk at the airport";
  ASSERT_TRUE((*svc)->add(a));
  ChatOptions o;
  o.scope = {"u"};
  o.llm.url = stub.url();
  auto chat = ChatSession::create(**svc, o);
  ASSERT_TRUE(chat) << chat.status().message();
  auto r = (*chat)->turn("what milk do I like in my coffee?");
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_TRUE(r->retrieved);
  EXPECT_EQ(r->partitions, (std::vector<std::string>{"fact", "preference"}));
  ASSERT_EQ(r->memory_ids.size(), 1u);  // the event partition was not searched
  EXPECT_EQ(r->answer, "You like oat milk.");
  EXPECT_TRUE(r->fast_answer.empty());
  // The controller says no memory is needed for a greeting.
  auto g = (*chat)->turn("hello there");
  ASSERT_TRUE(g);
  EXPECT_FALSE(g->retrieved);
  EXPECT_TRUE(g->memory_ids.empty());
  EXPECT_EQ(g->recent_turns_used, 2);  // the previous exchange is activation memory
  // Written back: the question is now a memory, and its answer an Actor memory.
  ListRequest l;
  l.filter.scope = {"u"};
  l.filter.kinds = {"qa"};
  auto qa = (*svc)->list(l);
  ASSERT_TRUE(qa);
  EXPECT_EQ(qa->size(), 2u);
}

TEST(Llm, ActorAnswersWhileTheReasonerRuns) {
  StubLlm stub([](const json&, const std::string&) -> std::string { return "slow answer"; });
  auto svc = MemoryService::open(base_config());
  ASSERT_TRUE(svc);
  ChatOptions o;
  o.scope = {"u"};
  o.llm.url = stub.url();
  o.llm_controller = false;
  auto chat = ChatSession::create(**svc, o);
  ASSERT_TRUE(chat);
  ASSERT_TRUE((*chat)->turn("how tall is the eiffel tower?"));
  stub.set_delay_ms(500);
  auto t0 = std::chrono::steady_clock::now();
  double fast_at = -1;
  auto r = (*chat)->turn("how tall is the eiffel tower?", [&](const std::string& a) {
    fast_at = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(a, "slow answer");
  });
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->fast_answer, "slow answer");
  ASSERT_GE(fast_at, 0.0);
  EXPECT_LT(fast_at, 0.4);     // before the Reasoner's 0.5 s
  EXPECT_GE(total, 0.5);
}

TEST(Llm, ChatBudgetUsesSummaries) {
  StubLlm stub([](const json&, const std::string&) -> std::string { return "ok"; });
  auto svc = MemoryService::open(base_config());
  ASSERT_TRUE(svc);
  AddRequest a;
  a.scope = {"u"};
  a.kind = "fact";
  // Six long, distinct facts (texts that differ only in a number would be near duplicates, merged
  // into one memory by the A-MEM dedup, and a single memory fits the budget whole).
  const char* topics[] = {"roses bloom", "tomatoes ripen", "a bench faces the pond", "bees visit lavender",
                          "compost steams", "apples were grafted"};
  for (int i = 0; i < 6; ++i) {
    a.text = std::string("Garden: ") + topics[i] + ". " + std::string(300, 'x') + " more words follow";
    auto r = (*svc)->add(a);
    ASSERT_TRUE(r) << r.status().message();
    ASSERT_EQ(r->event, AddEvent::kAdd) << a.text;
  }
  ChatOptions o;
  o.scope = {"u"};
  o.llm.url = stub.url();
  o.llm_controller = false;
  o.fast_path = false;
  o.token_budget = 120;
  auto chat = ChatSession::create(**svc, o);
  ASSERT_TRUE(chat);
  auto r = (*chat)->turn("tell me about the garden facts");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->retrieved);
  EXPECT_GT(r->summaries_used, 0);
  EXPECT_LE(r->context_tokens, 120);
}

TEST(Llm, EvalJudgesAnswers) {
  std::string dir = mnemo::test::temp_dir();
  std::string file = dir + "/tiny.json";
  std::ofstream(file) << R"([{"sample_id": "t1", "conversation": {"speaker_a": "A", "speaker_b": "B",
      "session_1_date_time": "1:56 pm on 8 May, 2023",
      "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "I bought a red bike today"},
                    {"speaker": "B", "dia_id": "D1:2", "text": "Nice, where will you ride it?"}],
      "session_2_date_time": "10:00 am on 9 May, 2023",
      "session_2": [{"speaker": "A", "dia_id": "D2:1", "text": "I rode the bike to the lake"}]},
      "qa": [{"question": "What color is A's bike?", "answer": "red", "evidence": ["D1:1"], "category": 4},
             {"question": "Where did A ride?", "answer": "the lake", "evidence": ["D2:1"], "category": 1},
             {"question": "Broken", "answer": "x", "evidence": ["nonsense"], "category": 2}]}])";
  StubLlm stub([](const json&, const std::string& msg) -> std::string {
    if (has(msg, "CORRECT or WRONG")) return has(msg, "Generated answer: red") ? "CORRECT" : "WRONG";
    return has(msg, "bike") && has(msg, "color") ? "red" : "unknown";
  });
  LocomoOptions o;
  o.config.embedder.dim = 64;
  o.answer_llm.url = stub.url();
  auto r = eval_locomo(file, o);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->questions, 2);  // the one without valid evidence is skipped
  EXPECT_EQ(r->systems[0].answered, 2);
  EXPECT_DOUBLE_EQ(r->systems[0].judge_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r->systems[0].rows[3].recall[3], 1.0);  // category 4, R@50
}

}  // namespace
}  // namespace mnemo::ltm
