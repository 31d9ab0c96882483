// ltm_service_bench: latency of the memory service at scale, beside this disk's fsync latency.
//
//   ltm_service_bench --dir DIR [--memories 100000] [--users 100] [--queries 2000] [--clients 1]
//                     [--text FILE...] [--json]
//
// Memories are sentences of real text (default: $MNEMO_DATA/text/tinystories_train_01.txt and
// _02.txt), spread round-robin over the users, added with linking and deduplication on (the
// defaults). Reported:
//  - fsync: p50/p95 of a 4 KiB append + fdatasync in DIR, measured before and after the adds
//    (the same disk, the same run);
//  - add: p50/p95 over all adds, and over the first and the last 1,000 adds (store holding about
//    1,000 and about N memories: the growth check);
//  - search: p50/p95/p99 of k=10 hybrid searches for random users (queries are other sentences).
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "base/sys.h"
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

std::vector<double> fsync_latencies(const std::string& dir, int n) {
  std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<double> out;
  if (fd < 0) return out;
  char buf[4096];
  std::memset(buf, 7, sizeof buf);
  for (int i = 0; i < n; ++i) {
    if (::write(fd, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) break;
    double t0 = now_seconds();
    if (::fdatasync(fd) != 0) break;
    out.push_back((now_seconds() - t0) * 1e3);
  }
  ::close(fd);
  ::unlink(path.c_str());
  return out;
}

std::vector<std::string> sentences(const std::vector<std::string>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
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
  }
  return out;
}

std::string load_avg() {
  std::ifstream in("/proc/loadavg");
  std::string l;
  std::getline(in, l);
  return l + "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  long n = 100000, users = 100, queries = 2000, clients = 1;
  bool json = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") dir = next();
    else if (a == "--memories") n = std::atol(next().c_str());
    else if (a == "--users") users = std::atol(next().c_str());
    else if (a == "--queries") queries = std::atol(next().c_str());
    else if (a == "--clients") clients = std::atol(next().c_str());
    else if (a == "--text") files.push_back(next());
    else if (a == "--json") json = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: ltm_service_bench --dir DIR [--memories N] [--users U] [--queries Q]\n");
    return 2;
  }
  if (files.empty()) {
    const char* d = std::getenv("MNEMO_DATA");
    std::string data = d && d[0] ? d : "../shared/data";
    files = {data + "/text/tinystories_train_01.txt", data + "/text/tinystories_train_02.txt"};
  }
  std::vector<std::string> text = sentences(files);
  // Distinct sentences only (the same sentence twice for one user would be a duplicate add).
  std::sort(text.begin(), text.end());
  text.erase(std::unique(text.begin(), text.end()), text.end());
  std::mt19937 shuffle(7);
  std::shuffle(text.begin(), text.end(), shuffle);
  if (text.size() % static_cast<size_t>(users) == 0) text.pop_back();
  std::fprintf(stderr, "%zu distinct sentences\n", text.size());
  if (text.size() < 1000) {
    std::fprintf(stderr, "not enough text\n");
    return 1;
  }

  {
    std::string cur;
    for (const auto& part : split(dir, '/')) {
      cur += part + "/";
      ::mkdir(cur.c_str(), 0755);
    }
  }
  std::vector<double> fs_before = fsync_latencies(dir, 300);
  MemoryConfig cfg;
  cfg.dir = dir;
  auto svc = MemoryService::open(cfg);
  if (!svc) {
    std::fprintf(stderr, "error: %s\n", svc.status().message().c_str());
    return 1;
  }
  std::vector<double> add_ms(static_cast<size_t>(n), 0.0);
  // Single client: the process CPU time of each add (all threads: caller, writer, background),
  // which is what grows with the store if anything does, independent of the disk's mood; and an
  // fsync probe after every 50th add, so each window of adds has the disk's latency beside it.
  std::vector<double> add_cpu_ms(static_cast<size_t>(n), 0.0);
  std::vector<std::pair<long, double>> probes;  // (add index, fsync ms)
  int probe_fd = -1;
  if (clients == 1) probe_fd = ::open((dir + "/fsync-probe").c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  auto process_cpu_ms = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  std::atomic<long> next{0};
  std::atomic<long> errors{0};
  double t_add0 = now_seconds();
  std::vector<std::thread> th;
  for (long c = 0; c < clients; ++c) {
    th.emplace_back([&] {
      for (;;) {
        long i = next.fetch_add(1);
        if (i >= n) break;
        AddRequest a;
        a.scope = {str_printf("user%ld", i % users), "", str_printf("s%ld", (i / users) / 20)};
        a.text = text[static_cast<size_t>(i) % text.size()];
        a.kind = "event";
        a.event_time_ms = 1700000000000 + i * 1000;
        double c0 = clients == 1 ? process_cpu_ms() : 0;
        double t0 = now_seconds();
        auto r = (*svc)->add(a);
        add_ms[static_cast<size_t>(i)] = (now_seconds() - t0) * 1e3;
        if (clients == 1) add_cpu_ms[static_cast<size_t>(i)] = process_cpu_ms() - c0;
        if (!r) ++errors;
        if (probe_fd >= 0 && i % 50 == 25) {
          char buf[4096];
          std::memset(buf, 3, sizeof buf);
          if (::write(probe_fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf)) {
            double f0 = now_seconds();
            if (::fdatasync(probe_fd) == 0) probes.emplace_back(i, (now_seconds() - f0) * 1e3);
          }
        }
        if (i % 10000 == 0) std::fprintf(stderr, "added %ld\n", i);
      }
    });
  }
  for (auto& t : th) t.join();
  double add_secs = now_seconds() - t_add0;
  if (probe_fd >= 0) {
    ::close(probe_fd);
    ::unlink((dir + "/fsync-probe").c_str());
  }
  std::vector<double> fs_after = fsync_latencies(dir, 300);
  std::vector<double> fs_all = fs_before;
  fs_all.insert(fs_all.end(), fs_after.begin(), fs_after.end());

  std::mt19937 rng(11);
  std::vector<double> search_ms, search_cpu_ms;
  auto thread_cpu_ms = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  for (long q = 0; q < queries; ++q) {
    SearchRequest s;
    s.query = text[(static_cast<size_t>(n) + rng()) % text.size()];
    s.filter.scope.user_id = str_printf("user%ld", static_cast<long>(rng() % users));
    s.k = 10;
    s.touch = false;
    double c0 = thread_cpu_ms();
    double t0 = now_seconds();
    auto r = (*svc)->search(s);
    search_ms.push_back((now_seconds() - t0) * 1e3);
    search_cpu_ms.push_back(thread_cpu_ms() - c0);
    if (!r) ++errors;
  }
  ServiceStats st = (*svc)->stats();
  ProcessMemory pm = process_memory();
  size_t w = std::min<size_t>(1000, add_ms.size());
  std::vector<double> first(add_ms.begin(), add_ms.begin() + static_cast<std::ptrdiff_t>(w));
  std::vector<double> last(add_ms.end() - static_cast<std::ptrdiff_t>(w), add_ms.end());
  std::vector<double> first_cpu(add_cpu_ms.begin(), add_cpu_ms.begin() + static_cast<std::ptrdiff_t>(w));
  std::vector<double> last_cpu(add_cpu_ms.end() - static_cast<std::ptrdiff_t>(w), add_cpu_ms.end());
  std::vector<double> probe_all, probe_first, probe_last;
  for (const auto& [i, ms] : probes) {
    probe_all.push_back(ms);
    if (i < static_cast<long>(w)) probe_first.push_back(ms);
    if (i >= n - static_cast<long>(w)) probe_last.push_back(ms);
  }
  // Windows of 10,000 adds: add p95 against the fsync p95 measured inside the same window.
  std::vector<std::string> windows;
  for (long start = 0; start < n; start += 10000) {
    long end = std::min(n, start + 10000);
    std::vector<double> a(add_ms.begin() + start, add_ms.begin() + end), f;
    for (const auto& [i, ms] : probes)
      if (i >= start && i < end) f.push_back(ms);
    windows.push_back(str_printf("  adds %6ld-%6ld: add p50 %.3f p95 %.3f | fsync p50 %.3f p95 %.3f | add p95 - fsync p95 = %+.3f ms",
                                 start, end, pct(a, 0.5), pct(a, 0.95), pct(f, 0.5), pct(f, 0.95),
                                 pct(a, 0.95) - pct(f, 0.95)));
  }
  if (json) {
    std::printf("{\"memories\": %ld, \"users\": %ld, \"clients\": %ld, \"fsync_p50_ms\": %.3f, \"fsync_p95_ms\": %.3f, "
                "\"add_p50_ms\": %.3f, \"add_p95_ms\": %.3f, \"add_first1k_p50_ms\": %.3f, \"add_first1k_p95_ms\": %.3f, "
                "\"add_last1k_p50_ms\": %.3f, \"add_last1k_p95_ms\": %.3f, \"adds_per_s\": %.1f, "
                "\"search_p50_ms\": %.3f, \"search_p95_ms\": %.3f, \"search_p99_ms\": %.3f, \"commits\": %lld, "
                "\"writes\": %lld, \"rss_mib\": %.1f, \"errors\": %ld}\n",
                n, users, clients, pct(fs_all, 0.5), pct(fs_all, 0.95), pct(add_ms, 0.5), pct(add_ms, 0.95),
                pct(first, 0.5), pct(first, 0.95), pct(last, 0.5), pct(last, 0.95), n / add_secs,
                pct(search_ms, 0.5), pct(search_ms, 0.95), pct(search_ms, 0.99), static_cast<long long>(st.commits),
                static_cast<long long>(st.writes), pm.rss_bytes / 1048576.0, errors.load());
    return 0;
  }
  std::printf("memories %ld, users %ld, clients %ld, embedder %s, vector search %s\n", n, users, clients,
              st.embedder.c_str(), st.vector_search.c_str());
  std::printf("fsync (4 KiB append + fdatasync): p50 %.3f ms, p95 %.3f ms (before %.3f/%.3f, after %.3f/%.3f)\n",
              pct(fs_all, 0.5), pct(fs_all, 0.95), pct(fs_before, 0.5), pct(fs_before, 0.95), pct(fs_after, 0.5),
              pct(fs_after, 0.95));
  std::printf("add: p50 %.3f ms, p95 %.3f ms, %.0f adds/s; %lld commits for %lld writes\n", pct(add_ms, 0.5),
              pct(add_ms, 0.95), n / add_secs, static_cast<long long>(st.commits), static_cast<long long>(st.writes));
  std::printf("add, first %zu: p50 %.3f ms, p95 %.3f ms; last %zu: p50 %.3f ms, p95 %.3f ms\n", w, pct(first, 0.5),
              pct(first, 0.95), w, pct(last, 0.5), pct(last, 0.95));
  if (clients == 1) {
    std::printf("add CPU time (process), first %zu: p50 %.3f ms, p95 %.3f ms; last %zu: p50 %.3f ms, p95 %.3f ms\n", w,
                pct(first_cpu, 0.5), pct(first_cpu, 0.95), w, pct(last_cpu, 0.5), pct(last_cpu, 0.95));
    std::printf("fsync probes during the adds (every 50th add): p50 %.3f ms, p95 %.3f ms; first %zu adds p95 %.3f, "
                "last %zu adds p95 %.3f\n",
                pct(probe_all, 0.5), pct(probe_all, 0.95), w, pct(probe_first, 0.95), w, pct(probe_last, 0.95));
    for (const auto& line : windows) std::printf("%s\n", line.c_str());
  }
  std::printf("search (k=10, hybrid): p50 %.3f ms, p95 %.3f ms, p99 %.3f ms over %ld queries\n", pct(search_ms, 0.5),
              pct(search_ms, 0.95), pct(search_ms, 0.99), queries);
  std::printf("search CPU time of the calling thread: p50 %.3f ms, p95 %.3f ms, p99 %.3f ms\n", pct(search_cpu_ms, 0.5),
              pct(search_cpu_ms, 0.95), pct(search_cpu_ms, 0.99));
  std::printf("machine load average: %s", load_avg().c_str());
  std::printf("RSS %.1f MiB; errors %ld\n", pm.rss_bytes / 1048576.0, errors.load());
  return errors.load() == 0 ? 0 : 1;
}
