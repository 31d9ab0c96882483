#include "net/http_loop.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/strings.h"

namespace mnemo::net {
namespace {

constexpr uint64_t kListenKey = 1;
constexpr uint64_t kWakeKey = 2;
constexpr uint64_t kFirstConnKey = 16;
constexpr int kTickMs = 50;           // deadline resolution
constexpr int kLingerMs = 1000;       // reading and discarding after an error answer
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxReadPerEvent = 1 << 20;  // fairness between busy connections

int64_t mono_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string peer_address(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, buf, sizeof buf);
  } else if (a.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, buf, sizeof buf);
  }
  return buf;
}

const char* code_for_parse_error(int status) {
  switch (status) {
    case 413: return "payload_too_large";
    case 431: return "header_too_large";
    case 501: return "not_implemented";
    case 505: return "http_version_not_supported";
    default: return "invalid_request";
  }
}

}  // namespace

Response error_response(int status, const std::string& code, const std::string& message) {
  Response r;
  r.status = status;
  r.body = nlohmann::json({{"error", {{"code", code}, {"message", message}}}})
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

struct Waker {
  std::mutex mu;
  int fd = -1;  // the loop's eventfd; -1 once the loop is gone
  std::vector<uint64_t> ready;  // keys of Deferreds with something to take

  void wake(uint64_t key) {
    std::lock_guard l(mu);
    if (fd < 0) return;
    ready.push_back(key);
    uint64_t one = 1;
    ssize_t n = ::write(fd, &one, sizeof one);
    (void)n;  // EAGAIN: the counter is already non-zero, the loop will wake
  }
};

void Deferred::wake_locked() {
  if (waker_) waker_->wake(key_);
}

void Deferred::complete(Response r) {
  std::lock_guard l(mu_);
  if (cancelled()) return;
  whole_ = std::make_unique<Response>(std::move(r));
  wake_locked();
}

bool Deferred::write(std::string_view bytes) {
  std::lock_guard l(mu_);
  if (cancelled()) return false;
  pending_.append(bytes);
  wake_locked();
  return true;
}

void Deferred::finish() {
  std::lock_guard l(mu_);
  finished_ = true;
  wake_locked();
}

void Deferred::cancel() {
  std::lock_guard l(mu_);
  cancelled_.store(true, std::memory_order_relaxed);
  pending_.clear();
  pending_.shrink_to_fit();
}

void Deferred::attach(std::shared_ptr<Waker> waker, uint64_t key) {
  std::lock_guard l(mu_);
  waker_ = std::move(waker);
  key_ = key;
  if (!pending_.empty() || whole_ || finished_) wake_locked();
}

Deferred::Taken Deferred::take() {
  std::lock_guard l(mu_);
  Taken t;
  t.bytes.swap(pending_);
  t.whole = std::move(whole_);
  t.finished = finished_;
  return t;
}

struct Loop::State {
  LoopOptions opt;
  Handler handler;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::shared_ptr<Waker> waker = std::make_shared<Waker>();

  Response make_error(int status, const std::string& code, const std::string& message) const {
    return opt.error_body ? opt.error_body(status, code, message) : error_response(status, code, message);
  }

  // kDeferred: waiting for, or streaming, a Deferred's answer.
  enum class St { kRead, kBusy, kWrite, kLinger, kDeferred };
  struct Conn {
    int fd = -1;
    uint64_t key = 0;
    std::string addr;
    RequestParser parser;
    std::string inbuf;  // bytes read while a request was being answered (pipelining)
    std::string out;
    size_t out_off = 0;
    St st = St::kRead;
    bool in_request = false;  // bytes of a request have arrived: request deadline runs
    bool continue_sent = false;
    bool keep_alive = true;
    bool close_after_write = false;
    bool eof = false;
    std::shared_ptr<Deferred> deferred;
    bool streaming = false;  // the head of a streamed answer is out; chunks follow
    int64_t deadline = 0;
    uint32_t events = 0;
    explicit Conn(const Limits& l) : parser(l) {}
  };
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  std::unordered_map<std::string, size_t> per_address;
  uint64_t next_key = kFirstConnKey;
  int64_t accept_paused_until = 0;
  std::vector<uint64_t> pending_input;  // connections with buffered bytes to parse

  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
  };
  std::unordered_map<std::string, Bucket> buckets;
  int64_t last_prune_ms = 0;

  // Handler threads: requests in, answers out (then the eventfd wakes the loop).
  struct Job {
    uint64_t key;
    Request req;
  };
  struct Done {
    uint64_t key;
    Response resp;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  std::deque<Done> done;
  bool workers_stop = false;
  std::vector<std::thread> workers;

  mutable std::mutex stats_mu;
  LoopStats stats;

  ~State() {
    {
      std::lock_guard l(waker->mu);
      waker->fd = -1;
    }
    for (auto& [k, c] : conns) {
      if (c->deferred) c->deferred->cancel();
      ::close(c->fd);
    }
    if (listen_fd >= 0) ::close(listen_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void count(uint64_t LoopStats::*field) {
    std::lock_guard l(stats_mu);
    ++(stats.*field);
  }

  // ---- handler threads
  void worker() {
    for (;;) {
      Job job;
      {
        std::unique_lock l(mu);
        cv.wait(l, [&] { return workers_stop || !jobs.empty(); });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      Response resp;
      try {
        resp = handler(job.req);
      } catch (const std::exception& e) {
        resp = make_error(500, "internal", std::string("server: ") + e.what());
      } catch (...) {
        resp = make_error(500, "internal", "server: unexpected error");
      }
      {
        std::lock_guard l(mu);
        done.push_back({job.key, std::move(resp)});
      }
      wake();
    }
  }

  void wake() {
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd, &one, sizeof one);
    (void)n;  // EAGAIN: the counter is already non-zero, the loop will wake
  }

  // ---- the loop thread
  void set_events(Conn& c) {
    uint32_t ev = 0;
    if (c.st == St::kRead || c.st == St::kLinger) ev |= EPOLLIN;
    if (c.st == St::kDeferred) ev |= EPOLLRDHUP;  // the client leaving cancels the answer
    if (c.out_off < c.out.size()) ev |= EPOLLOUT;
    if (ev == c.events) return;
    epoll_event e{};
    e.events = ev;
    e.data.u64 = c.key;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &e);
    c.events = ev;
  }

  void close_conn(Conn& c) {
    if (c.deferred) c.deferred->cancel();
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    auto it = per_address.find(c.addr);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
    conns.erase(c.key);  // c is gone after this
  }

  void accept_all(int64_t now) {
    if (now < accept_paused_until) return;
    for (;;) {
      sockaddr_storage sa{};
      socklen_t len = sizeof sa;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: make room, and stop accepting for a moment so the ready listening
          // socket does not spin the loop.
          MNEMO_LOG_WARN("http server: accept: %s", std::strerror(errno));
          evict_idle(nullptr);
          accept_paused_until = now + 100;
          epoll_event e{};
          e.data.u64 = kListenKey;
          ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &e);
        }
        return;
      }
      count(&LoopStats::accepted);
      std::string addr = peer_address(sa);
      if (conns.size() >= opt.max_connections) evict_idle(nullptr);
      if (per_address[addr] >= opt.max_connections_per_address) evict_idle(&addr);  // its own idle ones
      if (conns.size() >= opt.max_connections || per_address[addr] >= opt.max_connections_per_address) {
        if (per_address[addr] == 0) per_address.erase(addr);
        refuse(fd, conns.size() >= opt.max_connections ? "server: too many open connections"
                                                       : "server: too many open connections from " + addr);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Conn>(opt.limits);
      c->fd = fd;
      c->key = next_key++;
      c->addr = addr;
      c->deadline = now + opt.idle_timeout_ms;
      c->events = EPOLLIN;
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.u64 = c->key;
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &e) != 0) {
        ::close(fd);
        continue;
      }
      ++per_address[addr];
      conns.emplace(c->key, std::move(c));
    }
  }

  // A best-effort 503 on a connection that is not kept.
  void refuse(int fd, const std::string& why) {
    count(&LoopStats::refused);
    std::string bytes = serialize(make_error(503, "too_many_connections", why), false);
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    ::close(fd);
  }

  // Closes the connection idle the longest (no request in progress, nothing to write), of one
  // client address or of all.
  void evict_idle(const std::string* addr) {
    Conn* victim = nullptr;
    for (auto& [k, c] : conns)
      if (c->st == St::kRead && !c->in_request && (!addr || c->addr == *addr) &&
          (!victim || c->deadline < victim->deadline || (c->deadline == victim->deadline && c->key < victim->key)))
        victim = c.get();
    if (!victim) return;
    count(&LoopStats::evicted_idle);
    close_conn(*victim);
  }

  void on_readable(Conn& c, int64_t now) {
    char buf[kReadChunk];
    size_t total = 0;
    while (total < kMaxReadPerEvent && (c.st == St::kRead || c.st == St::kLinger)) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        total += static_cast<size_t>(n);
        if (c.st == St::kLinger) continue;  // discarded
        c.inbuf.append(buf, static_cast<size_t>(n));
        if (!process_input(c, now)) return;  // closed
        continue;
      }
      if (n == 0) {
        c.eof = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_conn(c);
      return;
    }
    // The client finished sending. A request being answered still gets its answer (flush()
    // closes after it when nothing else was sent).
    if (c.eof && (c.st == St::kRead || c.st == St::kLinger)) close_conn(c);
  }

  // Feeds buffered bytes to the parser while the connection is reading. Returns false when the
  // connection was closed.
  bool process_input(Conn& c, int64_t now) {
    while (c.st == St::kRead && !c.inbuf.empty()) {
      const size_t used = c.parser.feed(c.inbuf);
      c.inbuf.erase(0, used);
      if (c.parser.started() && !c.in_request) {
        c.in_request = true;
        c.deadline = now + opt.request_timeout_ms;
      }
      switch (c.parser.state()) {
        case RequestParser::State::kError:
          return answer(c, make_error(c.parser.error_status(), code_for_parse_error(c.parser.error_status()),
                                          c.parser.error_message()),
                        /*close=*/true, now);
        case RequestParser::State::kDone: return dispatch(c, now);
        case RequestParser::State::kBody:
          if (c.parser.request().expect_continue && !c.continue_sent) {
            c.continue_sent = true;
            c.out += "HTTP/1.1 100 Continue\r\n\r\n";
            if (!flush(c, now)) return false;
          }
          break;
        case RequestParser::State::kHeader: break;
      }
      if (used == 0) break;
    }
    return true;
  }

  bool take_token(const std::string& addr, int64_t now) {
    if (opt.rate_per_address <= 0) return true;
    const double burst = 2 * opt.rate_per_address;
    auto [it, fresh] = buckets.try_emplace(addr);
    Bucket& b = it->second;
    if (fresh) b.tokens = burst;
    else b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.last_ms) * opt.rate_per_address / 1000.0);
    b.last_ms = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  bool dispatch(Conn& c, int64_t now) {
    Request req = c.parser.take();
    c.in_request = false;
    c.continue_sent = false;
    c.keep_alive = req.keep_alive;
    if (!take_token(c.addr, now)) {
      count(&LoopStats::rate_limited);
      Response r = make_error(429, "rate_limited",
                                  str_printf("server: more than %g requests per second from %s", opt.rate_per_address,
                                             c.addr.c_str()));
      r.headers.emplace_back("Retry-After", "1");
      return answer(c, std::move(r), !req.keep_alive, now);
    }
    bool queued = false;
    {
      std::lock_guard l(mu);
      if (jobs.size() < opt.max_queued) {
        jobs.push_back({c.key, std::move(req)});
        queued = true;
      }
    }
    if (!queued) {
      count(&LoopStats::overloaded);
      Response r = make_error(503, "overloaded", "server: too many requests waiting, try again");
      r.headers.emplace_back("Retry-After", "1");
      return answer(c, std::move(r), !c.keep_alive, now);
    }
    count(&LoopStats::requests);
    cv.notify_one();
    c.st = St::kBusy;
    c.deadline = INT64_MAX;
    set_events(c);
    return true;
  }

  // Queues an answer and writes what the socket takes. Returns false when the connection closed.
  bool answer(Conn& c, Response&& r, bool close, int64_t now) {
    c.close_after_write = c.close_after_write || close || !c.keep_alive;
    c.out += serialize(r, !c.close_after_write);
    c.st = St::kWrite;
    c.deadline = now + opt.write_timeout_ms;
    return flush(c, now);
  }

  // Writes pending bytes; after a whole answer, reads the next request or closes. Returns false
  // when the connection was closed.
  bool flush(Conn& c, int64_t now) {
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close_conn(c);
      return false;
    }
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
      if (c.st == St::kDeferred) c.deadline = INT64_MAX;
      if (c.st == St::kWrite) {
        if (c.close_after_write) {
          if (c.eof) {
            close_conn(c);
            return false;
          }
          // Lingering close: the client may still be sending the request we refused.
          ::shutdown(c.fd, SHUT_WR);
          c.st = St::kLinger;
          c.deadline = now + kLingerMs;
        } else if (c.eof && c.inbuf.empty()) {
          close_conn(c);
          return false;
        } else {
          c.st = St::kRead;
          c.deadline = now + opt.idle_timeout_ms;
          // A pipelined request may be waiting: the loop parses it next (not from here, so a
          // client pipelining many requests that are answered at once cannot grow the stack).
          if (!c.inbuf.empty()) pending_input.push_back(c.key);
        }
      }
    }
    set_events(c);
    return true;
  }

  void on_done(int64_t now) {
    std::deque<Done> ready;
    {
      std::lock_guard l(mu);
      ready.swap(done);
    }
    for (Done& d : ready) {
      auto it = conns.find(d.key);
      if (it == conns.end()) {  // the client went away
        if (d.resp.deferred) d.resp.deferred->cancel();
        continue;
      }
      Conn& c = *it->second;
      if (d.resp.deferred) {
        start_deferred(c, std::move(d.resp), now);
      } else {
        answer(c, std::move(d.resp), false, now);
      }
    }
    std::vector<uint64_t> woken;
    {
      std::lock_guard l(waker->mu);
      woken.swap(waker->ready);
    }
    for (uint64_t k : woken) {
      auto it = conns.find(k);
      if (it != conns.end() && it->second->st == St::kDeferred) pump_deferred(*it->second, now);
    }
  }

  // A handler answered with a Deferred: a streamed answer's head goes out now.
  void start_deferred(Conn& c, Response&& r, int64_t now) {
    c.deferred = std::move(r.deferred);
    c.streaming = r.stream;
    c.st = St::kDeferred;
    c.deadline = INT64_MAX;
    if (c.streaming) c.out += serialize_stream_head(r, c.keep_alive);
    c.deferred->attach(waker, c.key);
    if (!flush(c, now)) return;
    set_events(c);
  }

  // Moves what the producer left into the connection's buffer; ends the answer when it is done.
  void pump_deferred(Conn& c, int64_t now) {
    Deferred::Taken t = c.deferred->take();
    if (c.streaming) {
      if (!t.bytes.empty()) append_chunk(&c.out, t.bytes);
      if (c.out.size() - c.out_off > kMaxStreamBuffered) {
        count(&LoopStats::timed_out);
        close_conn(c);  // too far behind: dropped, its answer cancelled
        return;
      }
      if (t.finished) {
        append_chunk(&c.out, {});
        c.deferred.reset();
        c.close_after_write = c.close_after_write || !c.keep_alive;
        c.st = St::kWrite;
        c.deadline = now + opt.write_timeout_ms;
      } else if (c.out_off < c.out.size()) {
        c.deadline = now + opt.write_timeout_ms;
      }
      flush(c, now);
      return;
    }
    if (t.whole) {
      c.deferred.reset();
      answer(c, std::move(*t.whole), false, now);
    }
  }

  void sweep(int64_t now) {
    std::vector<uint64_t> expired;
    for (auto& [k, c] : conns)
      if (c->deadline <= now) expired.push_back(k);
    for (uint64_t k : expired) {
      auto it = conns.find(k);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      count(&LoopStats::timed_out);
      if (c.st == St::kRead && c.in_request) {
        answer(c,
               make_error(408, "request_timeout",
                              str_printf("request: expected the whole request within %d ms", opt.request_timeout_ms)),
               true, now);
      } else {
        close_conn(c);
      }
    }
    if (now - last_prune_ms > 10000) {
      last_prune_ms = now;
      for (auto it = buckets.begin(); it != buckets.end();)
        it = now - it->second.last_ms > 60000 ? buckets.erase(it) : std::next(it);
    }
    if (accept_paused_until != 0 && now >= accept_paused_until) {
      accept_paused_until = 0;
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.u64 = kListenKey;
      ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &e);
    }
  }

  void serve() {
    std::vector<epoll_event> evs(256);
    int64_t last_sweep = mono_ms();
    while (!stopping.load()) {
      int n = ::epoll_wait(epoll_fd, evs.data(), static_cast<int>(evs.size()), kTickMs);
      const int64_t now = mono_ms();
      for (int i = 0; i < n; ++i) {
        const uint64_t key = evs[static_cast<size_t>(i)].data.u64;
        const uint32_t ev = evs[static_cast<size_t>(i)].events;
        if (key == kListenKey) {
          accept_all(now);
          continue;
        }
        if (key == kWakeKey) {
          uint64_t v;
          ssize_t r = ::read(wake_fd, &v, sizeof v);
          (void)r;
          continue;
        }
        auto it = conns.find(key);
        if (it == conns.end()) continue;
        Conn& c = *it->second;
        if (ev & EPOLLERR) {
          close_conn(c);
          continue;
        }
        if (c.st == St::kDeferred && (ev & (EPOLLRDHUP | EPOLLHUP))) {
          close_conn(c);  // the client left: its answer is cancelled
          continue;
        }
        if (ev & EPOLLOUT) {
          if (!flush(c, now)) continue;
        }
        if (ev & (EPOLLIN | EPOLLHUP)) {
          if (c.st == St::kRead || c.st == St::kLinger) on_readable(c, now);
          else if (ev & EPOLLHUP) close_conn(c);  // gone while busy: its answer is dropped
        }
      }
      on_done(now);
      while (!pending_input.empty()) {
        std::vector<uint64_t> keys;
        keys.swap(pending_input);
        for (uint64_t k : keys) {
          auto it = conns.find(k);
          if (it == conns.end() || it->second->st != St::kRead) continue;
          Conn& c = *it->second;
          if (process_input(c, now) && c.st == St::kRead && c.eof) close_conn(c);  // ends mid-request
        }
      }
      if (now - last_sweep >= kTickMs) {
        last_sweep = now;
        sweep(now);
      }
    }
  }
};

Loop::Loop(std::unique_ptr<State> s) : s_(std::move(s)) {}

Loop::~Loop() {
  stop();
  std::lock_guard l(s_->mu);
  s_->workers_stop = true;
  s_->cv.notify_all();
}

int Loop::port() const { return s_->port; }

void Loop::stop() {
  s_->stopping.store(true);
  if (s_->wake_fd >= 0) s_->wake();
}

LoopStats Loop::stats() const {
  std::lock_guard l(s_->stats_mu);
  return s_->stats;
}

Expected<std::unique_ptr<Loop>> Loop::bind(const std::string& host, int port, const LoopOptions& options,
                                           Handler handler) {
  if (options.threads < 1) return invalid_argument("http server: threads: expected at least 1");
  auto s = std::make_unique<State>();
  s->opt = options;
  s->handler = std::move(handler);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) return io_error(host + ": cannot resolve (" + ::gai_strerror(rc) + ")");
  std::string last_error = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      s->listen_fd = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (s->listen_fd < 0) return io_error(str_printf("%s:%d: cannot listen (%s)", host.c_str(), port, last_error.c_str()));
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ::getsockname(s->listen_fd, reinterpret_cast<sockaddr*>(&sa), &len);
  s->port = ntohs(sa.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(sa).sin6_port
                                           : reinterpret_cast<sockaddr_in&>(sa).sin_port);
  s->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->epoll_fd < 0 || s->wake_fd < 0) return io_error(std::string("http server: epoll: ") + std::strerror(errno));
  s->waker->fd = s->wake_fd;
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = kListenKey;
  ::epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &e);
  e.data.u64 = kWakeKey;
  ::epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &e);
  return std::unique_ptr<Loop>(new Loop(std::move(s)));
}

Status Loop::run() {
  State& s = *s_;
  {
    std::lock_guard l(s.mu);
    s.workers_stop = false;
  }
  for (int i = 0; i < s.opt.threads; ++i) s.workers.emplace_back([&s] { s.worker(); });
  s.serve();
  {
    std::lock_guard l(s.mu);
    s.workers_stop = true;
    s.jobs.clear();  // not started: their clients get no answer (the server is stopping)
  }
  s.cv.notify_all();
  for (auto& t : s.workers) t.join();
  s.workers.clear();
  return Status::ok();
}

}  // namespace mnemo::net
