// The HTTP API: mem0-shaped JSON, errors as 4xx with a message, isolation, limits; the server
// keeps serving after bad requests.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "mnemo/memory.h"
#include "test_util.h"

namespace mnemo::ltm {
namespace {

using json = nlohmann::json;

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MemoryConfig c;
    c.dir = test::temp_dir();
    c.embedder.dim = 64;
    c.background_maintenance = false;
    auto s = MemoryService::open(c);
    ASSERT_TRUE(s) << s.status().message();
    svc_ = std::move(*s);
    HttpOptions h;
    h.port = 0;
    h.max_body_bytes = 64 * 1024;
    h.threads = 4;
    auto srv = HttpServer::create(*svc_, h);
    ASSERT_TRUE(srv) << srv.status().message();
    server_ = std::move(*srv);
    thread_ = std::thread([this] { (void)server_->run(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    // Wait until it answers.
    for (int i = 0; i < 100; ++i) {
      if (auto r = client_->Get("/v1/health"); r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }
  json post(const std::string& path, const std::string& body, int want) {
    auto r = client_->Post(path.c_str(), body, "application/json");
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, want) << path << " " << body << " -> " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  json get(const std::string& path, int want) {
    auto r = client_->Get(path.c_str());
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, want) << path << " -> " << r->body;
    return json::parse(r->body, nullptr, false);
  }

  std::unique_ptr<MemoryService> svc_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpTest, Mem0ShapedRoundTrip) {
  json add = post("/v1/memories",
                  R"({"messages": [{"role": "user", "content": "I am allergic to peanuts"},
                                   {"role": "user", "content": "My sister lives in Lisbon"}],
                      "user_id": "alice", "run_id": "s1", "metadata": {"app": "test"}, "tags": ["health"]})",
                  200);
  ASSERT_EQ(add["results"].size(), 2u);
  EXPECT_EQ(add["results"][0]["event"], "ADD");
  std::string id = add["results"][0]["id"];
  json hits = post("/v1/memories/search", R"({"query": "food allergy peanuts", "user_id": "alice", "top_k": 1})", 200);
  ASSERT_EQ(hits["results"].size(), 1u);
  EXPECT_EQ(hits["results"][0]["id"], id);
  EXPECT_EQ(hits["results"][0]["memory"], "I am allergic to peanuts");
  EXPECT_EQ(hits["results"][0]["session_id"], "s1");
  EXPECT_EQ(hits["results"][0]["metadata"]["app"], "test");
  EXPECT_TRUE(hits["results"][0].contains("score"));
  // Filters in "filters" (mem0 v2 style).
  json f = post("/v1/memories/search",
                R"({"query": "sister", "filters": {"user_id": "alice", "tags": ["health"]}, "top_k": 5})", 200);
  ASSERT_EQ(f["results"].size(), 2u);  // both carry the tag; k results when k match
  json one = get("/v1/memories/" + id + "?user_id=alice", 200);
  EXPECT_EQ(one["memory"], "I am allergic to peanuts");
  auto put = client_->Put(("/v1/memories/" + id).c_str(), R"({"user_id": "alice", "text": "I am allergic to tree nuts"})",
                          "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  json hist = get("/v1/memories/" + id + "/history?user_id=alice", 200);
  ASSERT_EQ(hist["results"].size(), 2u);
  EXPECT_EQ(hist["results"][1]["event"], "UPDATE");
  EXPECT_EQ(hist["results"][1]["old_memory"], "I am allergic to peanuts");
  json list = get("/v1/memories?user_id=alice", 200);
  EXPECT_EQ(list["results"].size(), 2u);
  auto del = client_->Delete(("/v1/memories/" + id + "?user_id=alice").c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  get("/v1/memories/" + id + "?user_id=alice", 404);
  auto del_all = client_->Delete("/v1/memories?user_id=alice");
  ASSERT_TRUE(del_all);
  EXPECT_EQ(json::parse(del_all->body)["deleted"], 1);
}

TEST_F(HttpTest, BadRequestsGetClearErrorsAndTheServerKeepsRunning) {
  auto expect_error = [&](const json& j, const std::string& fragment) {
    ASSERT_TRUE(j.is_object());
    ASSERT_TRUE(j.contains("error")) << j.dump();
    EXPECT_NE(j["error"]["message"].get<std::string>().find(fragment), std::string::npos) << j.dump();
  };
  expect_error(post("/v1/memories", "{not json", 400), "malformed JSON");
  expect_error(post("/v1/memories", "[1,2,3]", 400), "JSON object");
  expect_error(post("/v1/memories", R"({"text": "x"})", 400), "user_id");
  expect_error(post("/v1/memories", R"({"text": "x", "user_id": "u", "org_id": "o"})", 400), "unknown field");
  expect_error(post("/v1/memories", R"({"text": 42, "user_id": "u"})", 400), "expected a string");
  expect_error(post("/v1/memories", R"({"text": "x", "user_id": "u", "metadata": [1]})", 400), "metadata");
  expect_error(post("/v1/memories/search", R"({"query": "x", "user_id": "u", "filters": {"team_id": "t"}})", 400),
               "unknown field");
  expect_error(post("/v1/memories/search", R"({"query": "x", "user_id": "u", "top_k": 0})", 400), "top_k");
  // A mistyped "limit" is the client's error (it used to surface as a 500 from a bad variant access).
  expect_error(post("/v1/memories/search", R"({"query": "x", "user_id": "u", "limit": "ten"})", 400), "limit");
  expect_error(post("/v1/memories", R"({"text": "x", "user_id": "u", "event_time_ms": 18446744073709551615})", 400),
               "event_time_ms");
  expect_error(post("/v1/memories/search", R"({"query": "x", "user_id": "u", "filters": {"user_id": "v"}})", 400),
               "twice");
  expect_error(get("/v1/memories?user_id=u&colour=red", 400), "unknown parameter");
  expect_error(get("/v1/memories/abc?user_id=u", 400), "memory id");
  expect_error(get("/v1/memories/123", 400), "user_id");
  expect_error(get("/v1/memories/999?user_id=u", 404), "not found");
  expect_error(get("/v1/nothing", 404), "no such endpoint");
  std::string big = R"({"user_id": "u", "text": ")" + std::string(100 * 1024, 'a') + "\"}";
  auto r = client_->Post("/v1/memories", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  std::string long_text = R"({"user_id": "u", "text": ")" + std::string(40 * 1024, 'a') + "\"}";
  expect_error(post("/v1/memories", long_text, 413), "at most");
  // Still fine.
  json ok = post("/v1/memories", R"({"text": "still alive", "user_id": "u"})", 200);
  EXPECT_EQ(ok["results"][0]["event"], "ADD");
}

TEST_F(HttpTest, UsersAreIsolated) {
  json a = post("/v1/memories", R"({"text": "the vault code is 4711", "user_id": "alice"})", 200);
  post("/v1/memories", R"({"text": "the vault code is 1234", "user_id": "bob"})", 200);
  std::string id = a["results"][0]["id"];
  json hits = post("/v1/memories/search", R"({"query": "vault code", "user_id": "bob", "top_k": 10})", 200);
  ASSERT_EQ(hits["results"].size(), 1u);
  EXPECT_EQ(hits["results"][0]["user_id"], "bob");
  get("/v1/memories/" + id + "?user_id=bob", 404);
  get("/v1/memories/" + id + "/history?user_id=bob", 404);
  auto del = client_->Delete(("/v1/memories/" + id + "?user_id=bob").c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 404);
  get("/v1/memories/" + id + "?user_id=alice", 200);
  json none = post("/v1/memories/search", R"({"query": "vault", "user_id": "carol"})", 200);
  EXPECT_TRUE(none["results"].empty());
}

TEST_F(HttpTest, ForgetAndRestore) {
  json a = post("/v1/memories", R"({"text": "an old memory", "user_id": "u", "event_time_ms": 1000})", 200);
  std::string id = a["results"][0]["id"];
  json f = post("/v1/memories/forget", R"({"user_id": "u", "threshold": 0.5, "now_ms": 864000000})", 200);
  ASSERT_EQ(f["moved"].size(), 1u);
  EXPECT_EQ(get("/v1/memories/" + id + "?user_id=u", 200)["tier"], "cold");
  json r = post("/v1/memories/" + id + "/restore", R"({"user_id": "u"})", 200);
  EXPECT_EQ(r["tier"], "hot");
  EXPECT_EQ(r["strength"], 2.0);
}

}  // namespace
}  // namespace mnemo::ltm
