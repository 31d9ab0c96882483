// net/http_loop.h: the connection layer of mnemo's HTTP servers (the memory service, src/ltm, and
// the OpenAI-compatible server, src/server): one epoll thread owns every socket, a pool of
// handler threads only ever sees complete requests.
//
// Why (issue 16): with a thread per connection (cpp-httplib's pool), eight idle connections held
// all eight threads and every other client waited for their 30 s read timeout. Here a connection
// costs a file descriptor and its buffers until its request is complete, so idle, half-open and
// trickling (slowloris) clients cannot starve anyone, and their number is bounded:
//  - idle_timeout_ms: a connection with no request in progress (new, or kept alive) is closed
//    after this long;
//  - request_timeout_ms: from the first byte of a request to its last (header and body), however
//    the bytes trickle in; past it the client gets 408 and the connection is closed;
//  - write_timeout_ms: a client that does not read its answer is dropped;
//  - max_connections (and max_connections_per_address): at the cap the longest-idle connection
//    (of that address, for its cap) is closed to make room; when none is idle the new one gets
//    503 and is closed;
//  - max_queued: complete requests waiting for a handler; beyond it, 503 at once;
//  - rate_per_address: requests per second per client address (token bucket, burst twice the
//    rate); beyond it 429 with Retry-After. 0 turns it off.
// Handlers never touch sockets. An answer another thread produces later (the server's engine
// thread) is a Deferred: the handler returns at once with Response::deferred set, the loop keeps
// the connection and is woken (its eventfd) when the producer has bytes; a client that goes away
// (FIN, reset, or a write deadline while bytes wait) cancels it, which the producer sees at its
// next write. The producer never blocks on a slow client: bytes wait in the connection's buffer,
// and a client more than kMaxStreamBuffered behind is dropped (and its Deferred cancelled). After an error that ends a connection (408, 413, 431, ...) the
// answer is written, the sending side shut down and the rest of the request read and discarded
// for up to a second (a lingering close), so the client sees the answer instead of a reset.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <string>

#include "net/http_wire.h"
#include "mnemo/status.h"

namespace mnemo::net {

inline constexpr size_t kMaxStreamBuffered = 8u << 20;

// The loop's wake-up, shared with Deferreds so that a producer outliving the loop is harmless.
struct Waker;

// An answer produced by another thread. Thread-safe; producers call complete() once, or write()
// then finish() for a streamed body (Response::stream).
class Deferred {
 public:
  Deferred() = default;
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;

  // The whole answer (not streamed).
  void complete(Response r);
  // Body bytes of a streamed answer; false when cancelled (nothing is kept then).
  bool write(std::string_view bytes);
  // The end of a streamed body.
  void finish();
  // The client went away or the server stops.
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  void cancel();

  // The loop's side: attaches the waker and the connection key; takes what the producer left.
  void attach(std::shared_ptr<Waker> waker, uint64_t key);
  struct Taken {
    std::string bytes;               // streamed bytes since the last take
    std::unique_ptr<Response> whole;  // complete() was called
    bool finished = false;            // finish() was called (after `bytes`)
  };
  Taken take();

 private:
  void wake_locked();
  mutable std::mutex mu_;
  std::string pending_;
  std::unique_ptr<Response> whole_;
  bool finished_ = false;
  std::atomic<bool> cancelled_{false};
  std::shared_ptr<Waker> waker_;
  uint64_t key_ = 0;
};

// The body of an error answer the loop writes itself (408, 413, 429, 503, ...): the memory
// service's {"error": {"code", "message"}} by default; the OpenAI server gives its own shape.
using ErrorFormatter = std::function<Response(int status, const std::string& code, const std::string& message)>;

struct LoopOptions {
  int threads = 8;  // handler threads
  Limits limits;
  size_t max_connections = 1024;
  size_t max_connections_per_address = 256;
  int idle_timeout_ms = 30000;
  int request_timeout_ms = 10000;
  int write_timeout_ms = 10000;
  size_t max_queued = 1024;
  double rate_per_address = 0;
  ErrorFormatter error_body;  // null: error_response
};

struct LoopStats {
  uint64_t accepted = 0;
  uint64_t requests = 0;       // complete requests handed to handlers
  uint64_t timed_out = 0;      // connections closed by a deadline
  uint64_t refused = 0;        // connections refused at the caps
  uint64_t rate_limited = 0;   // 429 answers
  uint64_t overloaded = 0;     // 503 answers for a full queue
  uint64_t evicted_idle = 0;   // idle connections closed to make room
};

// The handler runs on a pool thread, concurrently with itself; it must not throw (an exception
// becomes a 500).
using Handler = std::function<Response(const Request&)>;

// {"error": {"code": code, "message": message}} with that status.
Response error_response(int status, const std::string& code, const std::string& message);

class Loop {
 public:
  // Binds host:port (0: a free port) and listens; serving starts with run().
  static Expected<std::unique_ptr<Loop>> bind(const std::string& host, int port, const LoopOptions& options,
                                              Handler handler);
  ~Loop();
  int port() const;
  // Serves until stop(); returns after the handler threads finished their requests.
  Status run();
  // From any thread; idempotent.
  void stop();
  LoopStats stats() const;

  struct State;

 private:
  explicit Loop(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace mnemo::net
