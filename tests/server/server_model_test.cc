// `mnemo serve` (include/mnemo/server.h) in process on an ephemeral port, on the committed
// models/mnemo-stories.gguf: greedy completions against generate() and `mnemo run --temp 0`,
// concurrent streams against the same requests alone, SSE framing, errors, preemption, metrics.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "http_client.h"
#include "mnemo/generate.h"
#include "mnemo/mnemo.h"
#include "mnemo/server.h"
#include "test_util.h"

namespace mnemo {
namespace {

using json = nlohmann::json;

std::string model_path() { return std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf"; }

struct Running {
  std::shared_ptr<Engine> engine;
  std::unique_ptr<Model> model;
  std::unique_ptr<server::Server> srv;
  std::thread thread;
  int port = 0;
  ~Running() {
    if (srv) srv->stop();
    if (thread.joinable()) thread.join();
  }
};

std::unique_ptr<Running> start(server::ServerOptions o) {
  auto r = std::make_unique<Running>();
  EngineParams ep;
  ep.n_threads = 1;
  auto e = Engine::create(ep);
  EXPECT_TRUE(e.has_value()) << e.status().message();
  r->engine = *e;
  ModelParams mp;
  mp.engine = r->engine;
  auto m = Model::load(model_path(), mp);
  EXPECT_TRUE(m.has_value()) << m.status().message();
  r->model = std::move(*m);
  o.port = 0;
  if (o.n_ctx == 0) o.n_ctx = 256;
  auto s = server::Server::create(*r->model, o);
  EXPECT_TRUE(s.has_value()) << s.status().message();
  r->srv = std::move(*s);
  r->port = r->srv->port();
  r->thread = std::thread([p = r.get()] { (void)p->srv->run(); });
  return r;
}

#define REQUIRE_MODEL() \
  if (!test::exists(model_path())) GTEST_SKIP() << "not found: " << model_path()

json completion_body(const std::string& prompt, int max_tokens, bool stream = false) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", stream}};
}

// The texts of a server-sent-event body; checks its framing on the way.
std::string sse_text(const std::string& body, bool chat, std::string* finish_reason = nullptr) {
  std::string text;
  size_t p = 0;
  bool done = false;
  while (p < body.size()) {
    const size_t end = body.find("\n\n", p);
    EXPECT_NE(end, std::string::npos) << "an event without its blank line: " << body.substr(p);
    if (end == std::string::npos) break;
    const std::string ev = body.substr(p, end - p);
    p = end + 2;
    EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    EXPECT_FALSE(done) << "an event after [DONE]";
    if (ev == "data: [DONE]") {
      done = true;
      continue;
    }
    json j = json::parse(ev.substr(6));
    EXPECT_EQ(j["object"], chat ? "chat.completion.chunk" : "text_completion");
    const json& c = j["choices"][0];
    if (chat) {
      if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    } else {
      text += c["text"].get<std::string>();
    }
    if (!c["finish_reason"].is_null() && finish_reason) *finish_reason = c["finish_reason"];
  }
  EXPECT_TRUE(done) << "no data: [DONE]";
  return text;
}

const char* const kPrompts[] = {"Once upon a time", "The little dog", "Lily and Tom went to the park",
                                "One day, a big bear"};

TEST(Serve, GreedyCompletionEqualsGenerateAndMnemoRun) {
  REQUIRE_MODEL();
  auto r = start({});
  auto reply = test::http(r->port, "POST", "/v1/completions", completion_body(kPrompts[0], 40).dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  json j = json::parse(reply.body);
  const std::string text = j["choices"][0]["text"];
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "mnemo-stories");
  EXPECT_GT(j["usage"]["completion_tokens"].get<int>(), 0);

  // generate() on a context of its own.
  ContextParams cp;
  cp.n_ctx = 256;
  auto ctx = Context::create(*r->model, cp);
  ASSERT_TRUE(ctx.has_value());
  GenerateParams gp;
  gp.n_predict = 40;
  gp.sampling.temperature = 0;
  std::string expect;
  auto tokens = r->model->tokenizer().encode(kPrompts[0], true);
  auto st = generate(**ctx, r->model->tokenizer(), tokens, gp, [&](std::string_view p) {
    expect += p;
    return true;
  });
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(text, expect);

  // `mnemo run --temp 0` prints the prompt, the same text and a newline.
  if (!test::exists(test::mnemo_bin())) GTEST_SKIP() << "no mnemo binary at " << test::mnemo_bin();
  auto run = test::run_process({test::mnemo_bin(), "run", "-m", model_path(), "-p", kPrompts[0], "-n", "40", "--temp",
                                "0", "-c", "256", "-t", "1", "-q"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, std::string(kPrompts[0]) + text + "\n");
}

TEST(Serve, ConcurrentStreamsEachGetWhatTheyGetAlone) {
  REQUIRE_MODEL();
  server::ServerOptions o;
  o.parallel = 4;
  o.prefill_chunk = 5;  // prompts prefill over several steps, interleaved with the others' decoding
  auto r = start(o);
  std::vector<std::string> alone;
  for (const char* p : kPrompts) {
    auto reply = test::http(r->port, "POST", "/v1/completions", completion_body(p, 48).dump());
    ASSERT_EQ(reply.status, 200) << reply.body;
    alone.push_back(json::parse(reply.body)["choices"][0]["text"]);
  }
  std::vector<test::HttpReply> streamed(8);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < streamed.size(); ++i) {
    clients.emplace_back([&, i] {
      streamed[i] = test::http(r->port, "POST", "/v1/completions", completion_body(kPrompts[i % 4], 48, true).dump());
    });
  }
  for (auto& t : clients) t.join();
  for (size_t i = 0; i < streamed.size(); ++i) {
    ASSERT_EQ(streamed[i].status, 200) << streamed[i].body;
    EXPECT_TRUE(streamed[i].chunked);
    EXPECT_NE(streamed[i].head.find("Content-Type: text/event-stream"), std::string::npos);
    std::string reason;
    EXPECT_EQ(sse_text(streamed[i].body, false, &reason), alone[i % 4]) << "stream " << i;
    EXPECT_TRUE(reason == "stop" || reason == "length") << reason;
  }
}

TEST(Serve, ChatStreamsWithTheTemplate) {
  REQUIRE_MODEL();
  server::ServerOptions o;
  o.chat_template = "chatml";
  auto r = start(o);
  json body = {{"model", "mnemo-stories"},
               {"messages", {{{"role", "user"}, {"content", "Tell me a story."}}}},
               {"max_tokens", 24}, {"temperature", 0}, {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  auto s = test::http(r->port, "POST", "/v1/chat/completions", body.dump());
  ASSERT_EQ(s.status, 200) << s.body;
  const std::string streamed = sse_text(s.body, true);
  EXPECT_NE(s.body.find("\"role\":\"assistant\""), std::string::npos);
  EXPECT_NE(s.body.find("\"usage\""), std::string::npos);
  body["stream"] = false;
  auto whole = test::http(r->port, "POST", "/v1/chat/completions", body.dump());
  ASSERT_EQ(whole.status, 200) << whole.body;
  json j = json::parse(whole.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], streamed);
}

TEST(Serve, StopStringsAndLogprobs) {
  REQUIRE_MODEL();
  auto r = start({});
  auto full = test::http(r->port, "POST", "/v1/completions", completion_body(kPrompts[0], 40).dump());
  ASSERT_EQ(full.status, 200);
  const std::string text = json::parse(full.body)["choices"][0]["text"];
  ASSERT_GT(text.size(), 12u);
  const std::string stop = text.substr(8, 3);  // somewhere inside the text
  json b = completion_body(kPrompts[0], 40);
  b["stop"] = json::array({"zzzz", stop});
  b["logprobs"] = 3;
  auto cut = test::http(r->port, "POST", "/v1/completions", b.dump());
  ASSERT_EQ(cut.status, 200) << cut.body;
  json j = json::parse(cut.body);
  EXPECT_EQ(j["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_FALSE(lp["tokens"].empty());
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
    EXPECT_EQ(lp["top_logprobs"][i].size(), 3u);
    // Greedy: the chosen token is the most likely one.
    double best = -1e30;
    for (auto& [k, v] : lp["top_logprobs"][i].items()) best = std::max(best, v.get<double>());
    EXPECT_NEAR(lp["token_logprobs"][i].get<double>(), best, 1e-5);
  }
}

void expect_error(const test::HttpReply& r, int status, const std::string& type, const std::string& param = "") {
  EXPECT_EQ(r.status, status) << r.body;
  json j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_EQ(j["error"]["type"], type) << r.body;
  EXPECT_TRUE(j["error"].contains("param") && j["error"].contains("code")) << r.body;
  if (!param.empty()) {
    EXPECT_EQ(j["error"]["param"], param) << r.body;
  }
}

TEST(Serve, BadRequestsGetOpenAIErrorsAndTheServerKeepsServing) {
  REQUIRE_MODEL();
  server::ServerOptions o;
  o.api_keys = {"sk-right"};
  o.max_body_bytes = 64 * 1024;
  auto r = start(o);
  const std::vector<std::pair<std::string, std::string>> key = {{"Authorization", "Bearer sk-right"}};
  auto post = [&](const std::string& body, const std::string& path = "/v1/completions") {
    return test::http(r->port, "POST", path, body, key);
  };
  expect_error(post("{\"prompt\": "), 400, "invalid_request_error");
  expect_error(post(std::string(1000, '[') + std::string(1000, ']')), 400, "invalid_request_error");
  expect_error(post(R"({"prompt":"x","model":"gpt-4"})"), 404, "not_found_error", "model");
  expect_error(post(R"({"prompt":"x","max_tokens":100000})"), 400, "invalid_request_error", "max_tokens");
  expect_error(post(R"({"prompt":"x","max_tokens":-1})"), 400, "invalid_request_error", "max_tokens");
  expect_error(post(R"({"prompt":"x","n":2})"), 400, "invalid_request_error", "n");
  expect_error(post(R"({"prompt":"x","temperature":"hot"})"), 400, "invalid_request_error", "temperature");
  expect_error(post(R"({"prompt":"x","stop":["a","b","c","d","e"]})"), 400, "invalid_request_error", "stop");
  expect_error(post(R"({"messages":[]})", "/v1/chat/completions"), 400, "invalid_request_error", "messages");
  expect_error(post("{\"prompt\":\"" + std::string(100000, 'a') + "\"}"), 413, "invalid_request_error");
  expect_error(test::http(r->port, "POST", "/v1/completions", R"({"prompt":"x"})", {{"Authorization", "Bearer sk-wrong"}}),
               401, "authentication_error");
  expect_error(test::http(r->port, "GET", "/v1/models"), 401, "authentication_error");
  expect_error(test::http(r->port, "GET", "/v1/nothing", "", key), 404, "not_found_error");
  expect_error(test::http(r->port, "GET", "/v1/completions", "", key), 405, "invalid_request_error");
  EXPECT_EQ(test::http(r->port, "GET", "/health").status, 200);
  auto models = test::http(r->port, "GET", "/v1/models", "", key);
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "mnemo-stories");
  // A chat request without a template: a clear 400.
  expect_error(post(R"({"messages":[{"role":"user","content":"hi"}]})", "/v1/chat/completions"), 400,
               "invalid_request_error", "messages");
  auto ok = post(completion_body(kPrompts[1], 8).dump());
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST(Serve, ClientThatLeavesMidStreamIsCancelled) {
  REQUIRE_MODEL();
  server::ServerOptions o;
  o.n_ctx = 1024;  // a long answer: the client leaves well before its end
  auto r = start(o);
  int fd = test::connect_loopback(r->port);
  ASSERT_GE(fd, 0);
  test::send_all(fd, test::request_bytes("POST", "/v1/completions", completion_body(kPrompts[0], 1000, true).dump()));
  char buf[256];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);  // the stream started
  ::close(fd);
  // The server goes on serving, and the abandoned sequence is dropped.
  auto ok = test::http(r->port, "POST", "/v1/completions", completion_body(kPrompts[1], 8).dump());
  EXPECT_EQ(ok.status, 200);
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = test::http(r->port, "GET", "/metrics").body;
    if (metrics.find("mnemo_cancelled_total 1\n") != std::string::npos &&
        metrics.find("mnemo_active_sequences 0\n") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(metrics.find("mnemo_cancelled_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("mnemo_active_sequences 0\n"), std::string::npos) << metrics;
}

TEST(Serve, AFullQueueGets503AndTheOthersTheirAnswers) {
  REQUIRE_MODEL();
  server::ServerOptions o;
  o.parallel = 1;
  o.max_queue = 1;
  o.n_ctx = 1024;
  auto r = start(o);
  // One long request holds the only sequence, one waits in the queue, the rest are refused.
  std::vector<test::HttpReply> got(4);
  std::vector<std::thread> clients;
  clients.emplace_back([&] { got[0] = test::http(r->port, "POST", "/v1/completions", completion_body(kPrompts[0], 1000).dump()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (size_t i = 1; i < got.size(); ++i)
    clients.emplace_back([&, i] { got[i] = test::http(r->port, "POST", "/v1/completions", completion_body(kPrompts[i], 4).dump()); });
  for (auto& t : clients) t.join();
  int ok = 0, busy = 0;
  for (const auto& g : got) {
    if (g.status == 200) ++ok;
    if (g.status == 503) {
      ++busy;
      expect_error(g, 503, "server_error");
      EXPECT_NE(g.head.find("Retry-After: 1"), std::string::npos);
    }
  }
  EXPECT_EQ(ok + busy, 4);
  EXPECT_GE(ok, 2);
  EXPECT_GE(busy, 1);
}

TEST(Serve, PreemptionByRecomputeKeepsTheText) {
  REQUIRE_MODEL();
  server::ServerOptions o;
  o.parallel = 4;
  o.n_ctx = 256;
  auto probe = start(o);
  auto types = kv_cache_types(*probe->model);
  ASSERT_TRUE(types.has_value());
  // Alone (a pool of 4 full contexts: no preemption).
  std::vector<std::string> alone;
  for (const char* p : kPrompts) {
    auto a = test::http(probe->port, "POST", "/v1/completions", completion_body(p, 120).dump());
    ASSERT_EQ(a.status, 200);
    alone.push_back(json::parse(a.body)["choices"][0]["text"]);
  }
  probe.reset();
  // A pool of about 1.5 contexts: four long sequences cannot all fit; the youngest are preempted.
  o.kv_pool_bytes = types->bytes_per_position * 256 * 3 / 2;
  auto r = start(o);
  std::vector<test::HttpReply> got(4);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < 4; ++i)
    clients.emplace_back([&, i] { got[i] = test::http(r->port, "POST", "/v1/completions", completion_body(kPrompts[i], 120).dump()); });
  for (auto& t : clients) t.join();
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(got[i].status, 200) << got[i].body;
    EXPECT_EQ(json::parse(got[i].body)["choices"][0]["text"], alone[i]) << i;
  }
  const std::string metrics = test::http(r->port, "GET", "/metrics").body;
  EXPECT_EQ(metrics.find("mnemo_preemptions_total 0\n"), std::string::npos) << metrics;
}

TEST(Serve, MetricsAreThere) {
  REQUIRE_MODEL();
  auto r = start({});
  ASSERT_EQ(test::http(r->port, "POST", "/v1/completions", completion_body(kPrompts[0], 4).dump()).status, 200);
  auto m = test::http(r->port, "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  for (const char* want : {"mnemo_requests_total{route=\"/v1/completions\",status=\"200\"} 1", "mnemo_prompt_tokens_total",
                           "mnemo_generated_tokens_total", "mnemo_queue_length", "mnemo_active_sequences",
                           "mnemo_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1", "mnemo_kv_committed_bytes",
                           "mnemo_kv_reserved_bytes", "mnemo_weight_bytes", "mnemo_lease_bytes{part=\"KV cache\"}"})
    EXPECT_NE(m.body.find(want), std::string::npos) << want << "\n" << m.body;
  auto page = test::http(r->port, "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("/v1/chat/completions"), std::string::npos);
}

// `mnemo serve`'s own errors, before it serves: usage errors exit 2, the rest 1, one line naming
// the flag.
TEST(Serve, CliErrors) {
  REQUIRE_MODEL();
  if (!test::exists(test::mnemo_bin())) GTEST_SKIP() << "no mnemo binary at " << test::mnemo_bin();
  const std::string m = model_path();
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {test::mnemo_bin(), "serve"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::run_process(argv);
  };
  auto r = run({});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run({"-m", m, "--api-key", "a", "--api-keys", "/nonexistent"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--api-key and --api-keys"), std::string::npos) << r.err;
  r = run({"-m", m, "--api-keys", "/nonexistent/keys"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/keys"), std::string::npos) << r.err;
  r = run({"-m", m, "--chat-template", "/nonexistent/template.jinja", "--port", "0"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--chat-template"), std::string::npos) << r.err;
  r = run({"-m", m, "--parallel", "0"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // The port is taken: a clear error, not a hang.
  auto held = start({});
  r = run({"-m", m, "--port", std::to_string(held->port)});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot listen"), std::string::npos) << r.err;
}

long rss_kb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

TEST(Serve, RssStaysFlatAfterManyBadRequests) {
  REQUIRE_MODEL();
  auto r = start({});
  const std::string bad[] = {"{\"prompt\": ", std::string(200, '[') + std::string(200, ']'),
                             R"({"prompt":"x","max_tokens":100000})", R"({"prompt":"x","model":"nope"})"};
  for (int i = 0; i < 400; ++i) test::http(r->port, "POST", "/v1/completions", bad[i % 4]);  // warm-up
  const long before = rss_kb();
  for (int i = 0; i < 2000; ++i) ASSERT_GE(test::http(r->port, "POST", "/v1/completions", bad[i % 4]).status, 400);
  const long after = rss_kb();
  EXPECT_LT(after - before, 1024) << "RSS grew from " << before << " KiB to " << after << " KiB";
}

}  // namespace
}  // namespace mnemo
