// ltm_http_load: many concurrent clients against `mnemo memory serve`'s HTTP API on loopback,
// with hostile clients beside them, for a fixed time.
//
//   ltm_http_load --dir DIR [--clients 64] [--seconds 300] [--search-share 0.5] [--threads 8]
//                 [--idle 200] [--slow 16] [--text FILE] [--json]
//
// The server runs in this process (HttpServer on 127.0.0.1, a free port) over a fresh store in
// DIR. Each client has its own keep-alive connection and its own user, and loops: an add of a
// sentence of real text (default $MNEMO_DATA/text/tinystories_val.txt) or, with probability
// --search-share, a k=10 search for another sentence. Beside them, --idle connections are opened
// and never send a byte, and --slow clients trickle a request header one byte every 200 ms,
// reconnecting when cut off: what used to stall the server (issue 16).
//
// Reports per operation: count, p50/p95/p99 latency (wall clock, from the client), errors
// (transport failures and any status but 200), and the connection layer's counters.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "mnemo/memory.h"

using namespace mnemo;
using namespace mnemo::ltm;

namespace {

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::vector<std::string> sentences(const std::string& file, size_t max) {
  std::vector<std::string> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line) && out.size() < max) {
    size_t start = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '.' || line[i] == '!' || line[i] == '?') {
        std::string s = line.substr(start, i + 1 - start);
        while (!s.empty() && s[0] == ' ') s.erase(0, 1);
        if (s.size() >= 24) out.push_back(s);
        start = i + 1;
      }
    }
  }
  return out;
}

int connect_loopback(int port) {
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

struct Op {
  std::vector<double> ms;
  uint64_t errors = 0;
  std::string first_error;
};

}  // namespace

int main(int argc, char** argv) {
  // The clients' sockets may be closed by the server (idle ones are, by design); their writes must
  // fail with EPIPE instead of killing the process (Debian's cpp-httplib client sends without
  // MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  std::string dir, text;
  int clients = 64, seconds = 300, threads = 8, idle = 200, slow = 16;
  double search_share = 0.5;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") dir = next();
    else if (a == "--clients") clients = std::atoi(next());
    else if (a == "--seconds") seconds = std::atoi(next());
    else if (a == "--threads") threads = std::atoi(next());
    else if (a == "--idle") idle = std::atoi(next());
    else if (a == "--slow") slow = std::atoi(next());
    else if (a == "--search-share") search_share = std::atof(next());
    else if (a == "--text") text = next();
    else if (a == "--json") as_json = true;
    else {
      std::fprintf(stderr,
                   "usage: ltm_http_load --dir DIR [--clients 64] [--seconds 300] [--search-share 0.5] "
                   "[--threads 8] [--idle 200] [--slow 16] [--text FILE] [--json]\n");
      return 2;
    }
  }
  if (dir.empty() || clients < 1 || seconds < 1) {
    std::fprintf(stderr, "ltm_http_load: --dir is required; --clients and --seconds >= 1\n");
    return 2;
  }
  if (text.empty()) {
    const char* d = std::getenv("MNEMO_DATA");
    text = std::string(d && *d ? d : "../shared/data") + "/text/tinystories_val.txt";
  }
  std::vector<std::string> corpus = sentences(text, 200000);
  if (corpus.size() < 1000) {
    std::fprintf(stderr, "ltm_http_load: %s: expected at least 1000 sentences, got %zu\n", text.c_str(), corpus.size());
    return 1;
  }

  MemoryConfig cfg;
  cfg.dir = dir;
  auto svc = MemoryService::open(cfg);
  if (!svc) {
    std::fprintf(stderr, "ltm_http_load: %s\n", svc.status().message().c_str());
    return 1;
  }
  HttpOptions h;
  h.port = 0;
  h.threads = threads;
  auto server = HttpServer::create(**svc, h);
  if (!server) {
    std::fprintf(stderr, "ltm_http_load: %s\n", server.status().message().c_str());
    return 1;
  }
  std::thread serving([&] { (void)(*server)->run(); });
  const int port = (*server)->port();

  std::atomic<bool> stop{false};
  // Hostile clients: idle connections that never send, and trickling ones.
  std::vector<int> idle_fds;
  for (int i = 0; i < idle; ++i) {
    int fd = connect_loopback(port);
    if (fd >= 0) idle_fds.push_back(fd);
  }
  std::atomic<uint64_t> slow_bytes{0}, slow_cut{0};
  std::vector<std::thread> slow_threads;
  for (int i = 0; i < slow; ++i) {
    slow_threads.emplace_back([&] {
      const std::string head = "POST /v1/memories HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(4096, 's');
      while (!stop.load()) {
        int fd = connect_loopback(port);
        if (fd < 0) break;
        for (size_t b = 0; b < head.size() && !stop.load(); ++b) {
          if (::send(fd, &head[b], 1, MSG_NOSIGNAL) != 1) {
            slow_cut.fetch_add(1);
            break;
          }
          slow_bytes.fetch_add(1);
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        ::close(fd);
      }
    });
  }

  std::mutex mu;
  Op adds, searches;
  const auto t_end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> workers;
  for (int c = 0; c < clients; ++c) {
    workers.emplace_back([&, c] {
      std::mt19937_64 rng(20261207u + static_cast<uint64_t>(c));
      httplib::Client cli("127.0.0.1", port);
      cli.set_keep_alive(true);
      cli.set_read_timeout(30, 0);
      cli.set_write_timeout(30, 0);
      const std::string user = "client" + std::to_string(c);
      Op my_adds, my_searches;
      std::uniform_real_distribution<double> u01(0, 1);
      while (std::chrono::steady_clock::now() < t_end) {
        const std::string& s = corpus[rng() % corpus.size()];
        const bool is_search = u01(rng) < search_share;
        nlohmann::json body = is_search ? nlohmann::json{{"query", s}, {"user_id", user}, {"top_k", 10}}
                                        : nlohmann::json{{"text", s}, {"user_id", user}};
        const auto t0 = std::chrono::steady_clock::now();
        auto r = cli.Post(is_search ? "/v1/memories/search" : "/v1/memories", body.dump(), "application/json");
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        Op& op = is_search ? my_searches : my_adds;
        if (!r || r->status != 200) {
          ++op.errors;
          if (op.first_error.empty())
            op.first_error = r ? std::to_string(r->status) + " " + r->body.substr(0, 200)
                               : "transport: " + httplib::to_string(r.error());
          continue;
        }
        op.ms.push_back(ms);
      }
      std::lock_guard l(mu);
      adds.ms.insert(adds.ms.end(), my_adds.ms.begin(), my_adds.ms.end());
      adds.errors += my_adds.errors;
      if (adds.first_error.empty()) adds.first_error = my_adds.first_error;
      searches.ms.insert(searches.ms.end(), my_searches.ms.begin(), my_searches.ms.end());
      searches.errors += my_searches.errors;
      if (searches.first_error.empty()) searches.first_error = my_searches.first_error;
    });
  }
  for (auto& w : workers) w.join();
  stop.store(true);
  for (auto& t : slow_threads) t.join();
  for (int fd : idle_fds) ::close(fd);
  (*server)->stop();
  serving.join();

  auto st = (*svc)->stats();
  nlohmann::json out = {
      {"clients", clients},
      {"seconds", seconds},
      {"handler_threads", threads},
      {"idle_connections", idle_fds.size()},
      {"slow_clients", slow},
      {"slow_client_bytes", slow_bytes.load()},
      {"slow_clients_cut_off", slow_cut.load()},
      {"add", {{"n", adds.ms.size()}, {"errors", adds.errors}, {"p50_ms", pct(adds.ms, 0.5)},
               {"p95_ms", pct(adds.ms, 0.95)}, {"p99_ms", pct(adds.ms, 0.99)}, {"first_error", adds.first_error}}},
      {"search", {{"n", searches.ms.size()}, {"errors", searches.errors}, {"p50_ms", pct(searches.ms, 0.5)},
                  {"p95_ms", pct(searches.ms, 0.95)}, {"p99_ms", pct(searches.ms, 0.99)},
                  {"first_error", searches.first_error}}},
      {"memories", st.hot_memories},
      {"commits", st.commits},
      {"writes", st.writes}};
  if (as_json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("clients %d for %d s, %d handler threads; beside them %zu idle connections and %d slow clients "
                "(%llu bytes trickled, cut off %llu times)\n",
                clients, seconds, threads, idle_fds.size(), slow, static_cast<unsigned long long>(slow_bytes.load()),
                static_cast<unsigned long long>(slow_cut.load()));
    for (auto [name, op] : {std::make_pair("add", &adds), std::make_pair("search", &searches)}) {
      std::printf("%-6s n %7zu  errors %llu  p50 %8.3f ms  p95 %8.3f ms  p99 %8.3f ms  (%.0f/s)\n", name, op->ms.size(),
                  static_cast<unsigned long long>(op->errors), pct(op->ms, 0.5), pct(op->ms, 0.95), pct(op->ms, 0.99),
                  static_cast<double>(op->ms.size()) / seconds);
      if (!op->first_error.empty()) std::printf("       first error: %s\n", op->first_error.c_str());
    }
    std::printf("store: %llu memories, %llu commits for %llu writes\n", static_cast<unsigned long long>(st.hot_memories),
                static_cast<unsigned long long>(st.commits), static_cast<unsigned long long>(st.writes));
  }
  return adds.errors + searches.errors == 0 ? 0 : 1;
}
