// The HTTP API: mem0-shaped JSON, errors as 4xx with a message, isolation, limits; the server
// keeps serving after bad requests.
#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
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
    h.max_body_bytes = 256 * 1024;
    h.threads = 4;
    h.request_timeout_ms = 1000;
    h.idle_timeout_ms = 3000;
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
  std::string big = R"({"user_id": "u", "text": ")" + std::string(300 * 1024, 'a') + "\"}";
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

// A raw TCP connection to the server (for clients that misbehave on purpose).
int connect_raw(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Issue 16: a 200 KB body holding 100,000 nested arrays in `metadata` crashed the server
// (recursion in the JSON dump). It is refused with a 400 naming the depth, and the server lives.
TEST_F(HttpTest, DeeplyNestedMetadataIsRefusedNotACrash) {
  const size_t depth = 100000;
  std::string body = R"({"user_id": "u", "text": "x", "metadata": {"a": )" + std::string(depth, '[') +
                     std::string(depth, ']') + "}}";
  ASSERT_GT(body.size(), 200000u);
  client_->set_read_timeout(10, 0);
  auto r = client_->Post("/v1/memories", body, "application/json");
  ASSERT_TRUE(r) << "no answer: the server died";
  EXPECT_EQ(r->status, 400) << r->body;
  json j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r->body;
  EXPECT_EQ(j["error"]["code"], "invalid_argument");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("nest"), std::string::npos) << r->body;
  // The same through search filters and update.
  std::string deep_search = R"({"user_id": "u", "query": "x", "filters": )" + std::string(depth, '[') +
                            std::string(depth, ']') + "}";
  auto s = client_->Post("/v1/memories/search", deep_search, "application/json");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 400) << s->body;
  post("/v1/memories", R"({"text": "still alive", "user_id": "u"})", 200);
}

// Issue 16: eight idle half-open connections (as many as the server had threads) stalled every
// request for 30 s. Idle and trickling clients must not delay anyone else.
TEST_F(HttpTest, IdleAndSlowClientsDoNotStallOthers) {
  std::vector<int> idle;
  for (int i = 0; i < 32; ++i) {  // 8x the fixture's 4 threads
    int fd = connect_raw(server_->port());
    ASSERT_GE(fd, 0);
    if (i % 2 == 1) {
      // Half a request: a header that never ends, or a body that never comes.
      const char* part = i % 4 == 1 ? "POST /v1/memories HTTP/1.1\r\nHost: x\r\n"
                                     : "POST /v1/memories HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"te";
      ASSERT_GT(::send(fd, part, std::strlen(part), MSG_NOSIGNAL), 0);
    }
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  httplib::Client fresh("127.0.0.1", server_->port());
  fresh.set_read_timeout(5, 0);
  fresh.set_connection_timeout(5, 0);
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = fresh.Post("/v1/memories", R"({"text": "served while others idle )" + std::to_string(i) + R"(", "user_id": "u"})",
                        "application/json");
    ASSERT_TRUE(r) << "request " << i << " got no answer";
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_LT(seconds_since(t0), 2.0) << "request " << i << " waited behind idle connections";
  }
  for (int fd : idle) ::close(fd);
}

// Everything the server answers on a raw connection until it closes it or `seconds` pass.
std::string read_all(int fd, double seconds) {
  timeval tv{0, 100 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  auto t0 = std::chrono::steady_clock::now();
  char buf[4096];
  while (seconds_since(t0) < seconds) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void send_all(int fd, const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size())); }

// A slowloris client (one header byte every 100 ms) gets 408 at the request deadline (1 s in the
// fixture) and its connection is closed; a request sent meanwhile is answered at once.
TEST_F(HttpTest, TricklingClientGets408AtTheRequestDeadline) {
  int fd = connect_raw(server_->port());
  ASSERT_GE(fd, 0);
  const std::string head = "POST /v1/memories HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(200, 'a');
  auto t0 = std::chrono::steady_clock::now();
  bool cut = false;
  for (size_t i = 0; i < head.size() && seconds_since(t0) < 5; ++i) {
    if (::send(fd, &head[i], 1, MSG_NOSIGNAL) != 1) {
      cut = true;
      break;
    }
    if (i == 3) {
      auto t1 = std::chrono::steady_clock::now();
      json ok = post("/v1/memories", R"({"text": "not slowed down", "user_id": "u"})", 200);
      EXPECT_LT(seconds_since(t1), 1.0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    timeval tv{0, 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    if (::recv(fd, &c, 1, MSG_PEEK) >= 0) {
      cut = true;  // an answer (or the close) arrived
      break;
    }
  }
  const double t = seconds_since(t0);
  EXPECT_TRUE(cut);
  EXPECT_GE(t, 0.9);
  EXPECT_LT(t, 2.5);
  std::string answer = read_all(fd, 2.0);
  EXPECT_NE(answer.find("HTTP/1.1 408"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"request_timeout\""), std::string::npos) << answer;
  ::close(fd);
}

// Connection-level limits and framing: pipelined requests are answered in order, Expect:
// 100-continue is honoured, an oversized Content-Length is refused before the body is sent, a
// header that never ends is cut at 16 KiB, chunked bodies get 501.
TEST_F(HttpTest, FramingPipeliningAndLimits) {
  {
    int fd = connect_raw(server_->port());
    std::string body = R"({"text": "pipelined one", "user_id": "p"})";
    std::string req = "POST /v1/memories HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    send_all(fd, req + "GET /v1/health HTTP/1.1\r\n\r\nGET /v1/memories?user_id=p HTTP/1.1\r\nConnection: close\r\n\r\n");
    std::string all = read_all(fd, 3.0);
    size_t a = all.find("\"ADD\""), b = all.find("\"ok\""), c = all.find("pipelined one", b);
    EXPECT_NE(a, std::string::npos) << all;
    EXPECT_NE(b, std::string::npos) << all;
    EXPECT_NE(c, std::string::npos) << all;
    EXPECT_LT(a, b);
    EXPECT_LT(b, c);
    ::close(fd);
  }
  {
    int fd = connect_raw(server_->port());
    std::string body = R"({"text": "after continue", "user_id": "p"})";
    send_all(fd, "POST /v1/memories HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n");
    std::string cont = read_all(fd, 0.5);
    EXPECT_EQ(cont, "HTTP/1.1 100 Continue\r\n\r\n");
    send_all(fd, body);
    std::string ans = read_all(fd, 0.5);
    EXPECT_NE(ans.find("HTTP/1.1 200"), std::string::npos) << ans;
    ::close(fd);
  }
  {
    int fd = connect_raw(server_->port());
    send_all(fd, "POST /v1/memories HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n");
    std::string ans = read_all(fd, 2.0);
    EXPECT_NE(ans.find("HTTP/1.1 413"), std::string::npos) << ans;
    EXPECT_NE(ans.find("\"payload_too_large\""), std::string::npos) << ans;
    ::close(fd);
  }
  {
    int fd = connect_raw(server_->port());
    std::string huge = "GET /v1/health HTTP/1.1\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n";
    (void)::send(fd, huge.data(), huge.size(), MSG_NOSIGNAL);
    std::string ans = read_all(fd, 2.0);
    EXPECT_NE(ans.find("HTTP/1.1 431"), std::string::npos) << ans.substr(0, 200);
    ::close(fd);
  }
  {
    int fd = connect_raw(server_->port());
    send_all(fd, "POST /v1/memories HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    std::string ans = read_all(fd, 2.0);
    EXPECT_NE(ans.find("HTTP/1.1 501"), std::string::npos) << ans;
    ::close(fd);
  }
  {
    int fd = connect_raw(server_->port());
    send_all(fd, "GARBAGE\r\n\r\n");
    std::string ans = read_all(fd, 2.0);
    EXPECT_NE(ans.find("HTTP/1.1 400"), std::string::npos) << ans;
    ::close(fd);
  }
  post("/v1/memories", R"({"text": "the server is fine", "user_id": "p"})", 200);
}

// At the connection cap the longest-idle connection makes room: idle sockets cannot lock out a
// client that has something to ask.
TEST_F(HttpTest, IdleConnectionsAreEvictedAtTheCap) {
  HttpOptions h;
  h.port = 0;
  h.threads = 1;
  h.max_connections = 8;
  h.max_connections_per_address = 6;
  auto srv = HttpServer::create(*svc_, h);
  ASSERT_TRUE(srv) << srv.status().message();
  std::thread t([&] { (void)(*srv)->run(); });
  std::vector<int> idle;
  for (int i = 0; i < 12; ++i) idle.push_back(connect_raw((*srv)->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  httplib::Client c("127.0.0.1", (*srv)->port());
  c.set_read_timeout(2, 0);
  auto r = c.Get("/v1/health");
  ASSERT_TRUE(r) << "locked out by idle connections";
  EXPECT_EQ(r->status, 200);
  // Idle ones were closed to make room: at least 12 + 1 - 6 of them read EOF, the oldest first.
  int closed = 0;
  for (int fd : idle) {
    timeval tv{0, 200 * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b;
    if (::recv(fd, &b, 1, 0) == 0) ++closed;
  }
  EXPECT_GE(closed, 7);
  timeval tv{0, 1000};
  ::setsockopt(idle[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char b;
  EXPECT_EQ(::recv(idle[0], &b, 1, 0), 0);
  for (int fd : idle) ::close(fd);
  (*srv)->stop();
  t.join();
}

// One error shape, stable codes, on every route and from the connection layer.
TEST_F(HttpTest, OneErrorShapeWithStableCodes) {
  auto code_of = [&](const httplib::Result& r, int want_status) -> std::string {
    if (!r) return "<no answer>";
    EXPECT_EQ(r->status, want_status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("error") || !j["error"].is_object() || !j["error"]["message"].is_string() ||
        !j["error"]["code"].is_string())
      return "<bad shape: " + r->body + ">";
    return j["error"]["code"];
  };
  EXPECT_EQ(code_of(client_->Get("/v1/memories/999?user_id=u"), 404), "not_found");
  EXPECT_EQ(code_of(client_->Get("/v1/nothing"), 404), "not_found");
  EXPECT_EQ(code_of(client_->Get("/v1/memories/999/history?user_id=u"), 404), "not_found");
  EXPECT_EQ(code_of(client_->Delete("/v1/memories/999?user_id=u"), 404), "not_found");
  EXPECT_EQ(code_of(client_->Post("/v1/memories/999/restore", R"({"user_id": "u"})", "application/json"), 404),
            "not_found");
  EXPECT_EQ(code_of(client_->Put("/v1/memories/999", R"({"user_id": "u", "text": "x"})", "application/json"), 404),
            "not_found");
  EXPECT_EQ(code_of(client_->Post("/v1/memories", "{bad", "application/json"), 400), "invalid_argument");
  EXPECT_EQ(code_of(client_->Get("/v1/memories?user_id=u&limit=x"), 400), "invalid_argument");
  EXPECT_EQ(code_of(client_->Put("/v1/health", "{}", "application/json"), 405), "method_not_allowed");
  auto r = client_->Patch("/v1/memories/1", "{}", "application/json");
  EXPECT_EQ(code_of(r, 405), "method_not_allowed");
  if (r) {
    EXPECT_NE(r->get_header_value("Allow").find("PUT"), std::string::npos);
  }
  std::string big = R"({"user_id": "u", "text": ")" + std::string(300 * 1024, 'a') + "\"}";
  EXPECT_EQ(code_of(client_->Post("/v1/memories", big, "application/json"), 413), "payload_too_large");
  std::string long_text = R"({"user_id": "u", "text": ")" + std::string(40 * 1024, 'a') + "\"}";
  EXPECT_EQ(code_of(client_->Post("/v1/memories", long_text, "application/json"), 413), "payload_too_large");
  // Form-encoded bodies (curl -d's default) get a clear 415, not a JSON parse error.
  auto form = client_->Post("/v1/memories", "user_id=u&text=hello", "application/x-www-form-urlencoded");
  EXPECT_EQ(code_of(form, 415), "unsupported_media_type");
  if (form) {
    EXPECT_NE(form->body.find("application/json"), std::string::npos) << form->body;
  }
  EXPECT_EQ(code_of(client_->Post("/v1/memories/search", "query=x", "text/plain"), 415), "unsupported_media_type");
  // application/json with parameters, and +json types, are JSON.
  auto ok = client_->Post("/v1/memories", R"({"text": "charset is fine", "user_id": "u"})",
                          "application/json; charset=utf-8");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

}  // namespace
}  // namespace mnemo::ltm
