// ltm_filter_recall: recall@10 of filtered vector search through the SPANN index against exact
// filtered search, for users holding from 100 to 100,000 memories.
//
//   ltm_filter_recall --dir DIR [--sizes 100,1000,10000,100000] [--queries 200] [--text FILE...]
//
// Memories are sentences of real text with a random kind (3), tag (4) and event time (one year);
// filters are: none, a kind, any of two tags, a 10% time window, and kind + time window. Phase 1
// runs every query with the users served by the ANN index (ann_min_user_memories = 2); phase 2
// reopens the same store with the ANN index off (exact scan of the user's vectors) and runs the
// same queries. Vector-only ranking (mode "vector") isolates the index.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/strings.h"
#include "base/sys.h"
#include "mnemo/memory.h"

using namespace mnemo;
using namespace mnemo::ltm;

namespace {

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
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

const std::vector<std::string> kKinds = {"fact", "event", "preference"};
const std::vector<std::string> kTags = {"work", "home", "travel", "food"};
constexpr int64_t kT0 = 1700000000000, kYear = 365LL * 86400000;

struct Query {
  std::string user, text, filter_name;
  Filter filter;
};

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  std::vector<long> sizes = {100, 1000, 10000, 100000};
  long queries = 200;
  int probes = 0;
  double eps = 0;
  long ann_min = 2;
  bool reuse = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") dir = next();
    else if (a == "--queries") queries = std::atol(next().c_str());
    else if (a == "--text") files.push_back(next());
    else if (a == "--probes") probes = std::atoi(next().c_str());
    else if (a == "--eps") eps = std::atof(next().c_str());
    else if (a == "--ann-min") ann_min = std::atol(next().c_str());
    else if (a == "--reuse") reuse = true;
    else if (a == "--sizes") {
      sizes.clear();
      for (const auto& p : split(next(), ',')) sizes.push_back(std::atol(p.c_str()));
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: ltm_filter_recall --dir DIR [--sizes ...] [--queries N]\n");
    return 2;
  }
  if (files.empty()) {
    const char* d = std::getenv("MNEMO_DATA");
    std::string data = d && d[0] ? d : "../shared/data";
    files = {data + "/text/tinystories_train_01.txt", data + "/text/tinystories_train_02.txt",
             data + "/text/tinystories_val.txt"};
  }
  std::vector<std::string> text = sentences(files);
  std::mt19937 rng(5);
  std::shuffle(text.begin(), text.end(), rng);
  std::fprintf(stderr, "%zu distinct sentences\n", text.size());

  MemoryConfig cfg;
  cfg.dir = dir;
  cfg.link = false;   // this measures the index, not the write path
  cfg.dedup = false;
  cfg.background_maintenance = false;
  cfg.ann_min_user_memories = 2;
  cfg.retrieval.ann_probes = probes;
  cfg.retrieval.ann_prune_epsilon = eps;
  std::vector<Query> qs;
  std::mt19937 qrng(17);
  size_t next = 0;
  for (long size : sizes) next += static_cast<size_t>(size);
  if (!reuse) {
    auto svc = MemoryService::open(cfg);
    if (!svc) {
      std::fprintf(stderr, "error: %s\n", svc.status().message().c_str());
      return 1;
    }
    size_t added = 0;
    for (long size : sizes) {
      std::string user = str_printf("user%ld", size);
      double t0 = now_seconds();
      for (long i = 0; i < size; ++i) {
        AddRequest a;
        a.scope = {user};
        a.text = text[added++ % text.size()];
        a.kind = kKinds[rng() % kKinds.size()];
        a.tags = {kTags[rng() % kTags.size()]};
        a.event_time_ms = kT0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(kYear));
        a.infer = false;
        auto r = (*svc)->add(a);
        if (!r) {
          std::fprintf(stderr, "add: %s\n", r.status().message().c_str());
          return 1;
        }
      }
      std::fprintf(stderr, "%s: %ld memories in %.1f s\n", user.c_str(), size, now_seconds() - t0);
    }
    (void)(*svc)->maintain();  // fresh IDF for every vector; drains the ANN applier
    std::fprintf(stderr, "vector search: %s\n", (*svc)->stats().vector_search.c_str());
  }
  {
    for (long size : sizes) {
      for (long q = 0; q < queries; ++q) {
        Query qq;
        qq.user = str_printf("user%ld", size);
        qq.text = text[(next + qrng()) % text.size()];
        qq.filter.scope = {qq.user};
        switch (q % 5) {
          case 0: qq.filter_name = "none"; break;
          case 1:
            qq.filter_name = "kind";
            qq.filter.kinds = {kKinds[qrng() % kKinds.size()]};
            break;
          case 2:
            qq.filter_name = "2 tags";
            qq.filter.tags = {kTags[qrng() % kTags.size()], kTags[qrng() % kTags.size()]};
            break;
          case 3: {
            qq.filter_name = "10% time";
            int64_t from = kT0 + static_cast<int64_t>(qrng() % static_cast<uint64_t>(kYear * 9 / 10));
            qq.filter.time_from_ms = from;
            qq.filter.time_to_ms = from + kYear / 10;
            break;
          }
          default: {
            qq.filter_name = "kind+time";
            qq.filter.kinds = {kKinds[qrng() % kKinds.size()]};
            int64_t from = kT0 + static_cast<int64_t>(qrng() % static_cast<uint64_t>(kYear * 9 / 10));
            qq.filter.time_from_ms = from;
            qq.filter.time_to_ms = from + kYear / 10;
          }
        }
        qs.push_back(qq);
      }
    }
  }
  std::vector<std::vector<uint64_t>> res[2];
  std::vector<double> lat[2];
  for (int phase = 0; phase < 2; ++phase) {
    MemoryConfig c = cfg;
    c.ann_min_user_memories = phase == 0 ? ann_min : 0;
    auto svc = MemoryService::open(c);
    if (!svc) {
      std::fprintf(stderr, "error: %s\n", svc.status().message().c_str());
      return 1;
    }
    (void)(*svc)->flush();
    for (const Query& q : qs) {
      SearchRequest s;
      s.query = q.text;
      s.filter = q.filter;
      s.k = 10;
      s.mode = SearchMode::kVector;
      s.touch = false;
      double t0 = now_seconds();
      auto hits = (*svc)->search(s);
      lat[phase].push_back((now_seconds() - t0) * 1e3);
      std::vector<uint64_t> ids;
      if (hits)
        for (const auto& h : *hits) ids.push_back(h.memory.id);
      res[phase].push_back(ids);
    }
  }
  std::printf("filtered vector search, recall@10 of the SPANN path against exact (per user size and filter)\n");
  std::printf("%-8s %-10s %6s %8s %10s %10s %10s %10s\n", "memories", "filter", "n", "recall", "ann p50", "ann p95",
              "exact p50", "exact p95");
  std::map<std::pair<long, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < qs.size(); ++i)
    groups[{std::atol(qs[i].user.c_str() + 4), qs[i].filter_name}].push_back(i);
  std::map<long, std::pair<double, int>> by_size;
  for (const auto& [key, idx] : groups) {
    double rsum = 0;
    int n = 0;
    std::vector<double> la, le;
    for (size_t i : idx) {
      const auto& ex = res[1][i];
      const auto& an = res[0][i];
      la.push_back(lat[0][i]);
      le.push_back(lat[1][i]);
      if (ex.empty()) continue;
      std::set<uint64_t> e(ex.begin(), ex.end());
      size_t hit = 0;
      for (uint64_t id : an) hit += e.count(id);
      rsum += static_cast<double>(hit) / static_cast<double>(ex.size());
      ++n;
    }
    by_size[key.first].first += rsum;
    by_size[key.first].second += n;
    std::printf("%-8ld %-10s %6d %8.3f %10.3f %10.3f %10.3f %10.3f\n", key.first, key.second.c_str(), n,
                n ? rsum / n : 0.0, pct(la, 0.5), pct(la, 0.95), pct(le, 0.5), pct(le, 0.95));
  }
  for (const auto& [size, rs] : by_size)
    std::printf("user of %ld memories: recall@10 %.3f over %d queries\n", size, rs.second ? rs.first / rs.second : 0.0,
                rs.second);
  return 0;
}
