// net/http_loop.h's Deferred answers: whole answers and chunked streams produced by another
// thread, and cancellation when the client leaves.
#include "net/http_loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../server/http_client.h"

namespace mnemo::net {
namespace {

struct Served {
  std::unique_ptr<Loop> loop;
  std::thread thread;
  ~Served() {
    loop->stop();
    thread.join();
  }
};

std::unique_ptr<Served> serve(Handler h) {
  auto s = std::make_unique<Served>();
  auto l = Loop::bind("127.0.0.1", 0, LoopOptions{}, std::move(h));
  EXPECT_TRUE(l.has_value()) << l.status().message();
  s->loop = std::move(*l);
  s->thread = std::thread([p = s.get()] { (void)p->loop->run(); });
  return s;
}

TEST(HttpLoop, DeferredWholeAndStreamedAnswers) {
  std::vector<std::thread> producers;
  std::mutex mu;
  auto s = serve([&](const Request& req) {
    Response r;
    r.deferred = std::make_shared<Deferred>();
    r.stream = req.path == "/stream";
    std::lock_guard l(mu);
    producers.emplace_back([d = r.deferred, stream = r.stream] {
      if (!stream) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        Response whole;
        whole.body = "later";
        d->complete(std::move(whole));
        return;
      }
      for (int i = 0; i < 50; ++i) {
        d->write("data: " + std::to_string(i) + "\n\n");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      d->finish();
    });
    return r;
  });
  const int port = s->loop->port();
  auto whole = test::http(port, "GET", "/whole");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, "later");
  auto stream = test::http(port, "GET", "/stream");
  EXPECT_EQ(stream.status, 200);
  EXPECT_TRUE(stream.chunked);
  std::string want;
  for (int i = 0; i < 50; ++i) want += "data: " + std::to_string(i) + "\n\n";
  EXPECT_EQ(stream.body, want);
  std::lock_guard l(mu);
  for (auto& t : producers) t.join();
}

TEST(HttpLoop, AClientThatLeavesCancelsItsDeferred) {
  std::shared_ptr<Deferred> d;
  std::mutex mu;
  auto s = serve([&](const Request&) {
    Response r;
    r.deferred = std::make_shared<Deferred>();
    r.stream = true;
    std::lock_guard l(mu);
    d = r.deferred;
    return r;
  });
  int fd = test::connect_loopback(s->loop->port());
  ASSERT_GE(fd, 0);
  test::send_all(fd, test::request_bytes("GET", "/", ""));
  char buf[512];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);  // the head
  ::close(fd);
  bool cancelled = false;
  for (int i = 0; i < 200 && !cancelled; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard l(mu);
    cancelled = d && (d->cancelled() || !d->write("x"));
  }
  EXPECT_TRUE(cancelled);
}

}  // namespace
}  // namespace mnemo::net
