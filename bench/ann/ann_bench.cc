// mnemo_ann_bench: SPANN against hnswlib and faiss IVF-Flat (inverted lists in RAM and on disk).
//
// Usage (from the repository root, after building the target mnemo_ann_bench):
//
//   build/ann/bench/ann/mnemo_ann_bench run --set siftsmall
//   build/ann/bench/ann/mnemo_ann_bench run --set mixture --n 1000000 --nq 1000 --memcg 1
//   build/ann/bench/ann/mnemo_ann_bench run --set gauss   --n 1000000 --nq 1000 --memcg 1
//
// `run` prepares the data under --work (default: data/ beside the binary, i.e. in the build
// directory: generated vectors, exact ground
// truth computed by brute force on --threads threads and cached), then builds and searches each
// method in its own child process, so that VmHWM is per index and per phase. Builds are reused
// when their index exists (--rebuild 1 forces them). Search is one query at a time on one thread;
// each method sweeps its effort knob (SPANN: max posting lists probed; hnswlib: ef; faiss: nprobe)
// and the table reports the cheapest setting reaching recall@10 0.90 and 0.95.
// --memcg 1 also runs faiss with on-disk lists inside a memory cgroup limited to SPANN's search
// peak RSS ("equal RAM": the page cache that holds its lists is charged to the cgroup); needs root
// and cgroup v1 memory.
//
// Data sets (fixed seeds): siftsmall ($MNEMO_DATA/ann); gauss: i.i.d. N(0, 1), d = 128; mixture:
// 1000 centres c ~ N(0, 1)^128, points c + 0.5 * N(0, 1)^128, centre chosen uniformly. Queries are
// fresh draws from the same distribution.
//
// Subcommands used by `run` (also usable by hand): gen, gt, build, search (see main()). `filter`
// measures filtered search (synthetic users of the given sizes) on a SPANN index that `run` built:
//
//   D=build/ann/bench/ann/data/mixture-1000000
//   build/ann/bench/ann/mnemo_ann_bench filter --index $D/index-spann --base $D/base.fvecs --query $D/query.fvecs
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file.h"
#include "base/thread_pool.h"
#include "bench_common.h"
#include "ltm/ann/distance.h"
#include "ltm/ann/topk.h"

namespace mnemo::ann_bench {

double recall_at_k(const int64_t* found, const int32_t* gt, int k) {
  int hit = 0;
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) {
      if (found[i] == gt[j]) {
        ++hit;
        break;
      }
    }
  }
  return double(hit) / k;
}

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(std::stod(item));
  }
  return out;
}

void run_sweep(const std::string& method, const Args& a, const SearchHooks& hooks) {
  auto q = load_fvecs(a.str("query"), size_t(a.num("nq", 0)));
  auto gt = load_ivecs(a.str("gt"), q.n);
  const int k = int(a.num("k", 10));
  const double max_seconds = a.real("max-seconds", 60);
  const double stop_recall = a.real("stop-recall", 0.99);
  std::vector<int64_t> ids(static_cast<size_t>(k));
  for (double effort : parse_list(a.str("efforts"))) {
    hooks.set_effort(effort);
    hooks.search_one(q.row(0), ids.data());  // warm-up (buffers), not timed
    double recall = 0, busy = 0;
    nlohmann::json extra_sum = nlohmann::json::object();
    size_t done = 0;
    for (size_t i = 0; i < q.n; ++i) {
      const double t0 = now_seconds();
      hooks.search_one(q.row(i), ids.data());
      busy += now_seconds() - t0;
      recall += recall_at_k(ids.data(), gt.row(i), k);
      if (hooks.last_query_stats) {
        const nlohmann::json st = hooks.last_query_stats();
        for (auto& [key, v] : st.items()) {
          extra_sum[key] = extra_sum.value(key, 0.0) + v.get<double>();
        }
      }
      ++done;
      if (busy > max_seconds && done >= 20) break;
    }
    nlohmann::json j = memory_json();
    j.update({{"kind", "point"}, {"method", method}, {"effort", effort}, {"recall", recall / double(done)},
              {"qps", double(done) / busy}, {"queries", done}});
    for (auto& [key, v] : extra_sum.items()) j[key] = v.get<double>() / double(done);
    emit(j);
    std::fprintf(stderr, "  %s effort %g: recall %.3f, %.0f QPS\n", method.c_str(), effort, recall / double(done),
                 double(done) / busy);
    if (recall / double(done) >= stop_recall) break;
  }
}

namespace {

// ---- data ----------------------------------------------------------------------------------

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Standard normals by Box-Muller from splitmix64: the same numbers on every platform.
struct Normal {
  explicit Normal(uint64_t seed) : s(seed) {}
  float next() {
    if (have) {
      have = false;
      return spare;
    }
    double u1 = (double(splitmix(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = double(splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
    double r = std::sqrt(-2.0 * std::log(u1));
    spare = float(r * std::sin(2 * M_PI * u2));
    have = true;
    return float(r * std::cos(2 * M_PI * u2));
  }
  uint64_t s;
  bool have = false;
  float spare = 0;
};

constexpr int kMixtureClusters = 1000;
constexpr float kMixtureSpread = 0.5f;

// Row `i` of stream `stream` (0 = base, 1 = queries) of a data set.
void gen_rows(const std::string& set, int dim, uint64_t seed, uint64_t stream, size_t n, std::vector<float>* out) {
  out->resize(n * size_t(dim));
  std::vector<float> centres;
  if (set == "mixture") {
    Normal g(seed * 1000003 + 17);
    centres.resize(size_t(kMixtureClusters) * dim);
    for (float& c : centres) c = g.next();
  }
  for (size_t i = 0; i < n; ++i) {
    uint64_t rs = seed ^ (stream << 56) ^ (i * 0xD1B54A32D192ED03ull);
    Normal g(splitmix(rs));
    float* x = out->data() + i * size_t(dim);
    if (set == "gauss") {
      for (int t = 0; t < dim; ++t) x[t] = g.next();
    } else {
      const float* c = centres.data() + size_t(splitmix(rs) % kMixtureClusters) * dim;
      for (int t = 0; t < dim; ++t) x[t] = c[t] + kMixtureSpread * g.next();
    }
  }
}

int cmd_gen(const Args& a) {
  const std::string set = a.str("set");
  if (set != "gauss" && set != "mixture") die("--set: expected gauss or mixture, found " + set);
  const int dim = int(a.num("dim", 128));
  const uint64_t seed = uint64_t(a.num("seed", 20261129));
  std::vector<float> rows;
  gen_rows(set, dim, seed, 0, size_t(a.num("n", 1000000)), &rows);
  if (Status s = ltm::ann::write_fvecs(a.str("base"), rows.data(), rows.size() / dim, dim); !s.is_ok()) die(s.message());
  gen_rows(set, dim, seed, 1, size_t(a.num("nq", 1000)), &rows);
  if (Status s = ltm::ann::write_fvecs(a.str("query"), rows.data(), rows.size() / dim, dim); !s.is_ok()) die(s.message());
  return 0;
}

// Exact k nearest neighbours by brute force, queries split over threads.
int cmd_gt(const Args& a) {
  auto base = load_fvecs(a.str("base"));
  auto q = load_fvecs(a.str("query"));
  const int k = int(a.num("k", 100));
  ThreadPool pool(int(a.num("threads", 2)));
  std::vector<int32_t> out(q.n * size_t(k), -1);
  std::atomic<size_t> progress{0};
  pool.parallel_for(int64_t(q.n), 1, [&](int64_t b, int64_t e) {
    std::vector<float> d(4096);
    for (int64_t i = b; i < e; ++i) {
      ltm::ann::TopK top(k);
      for (size_t s = 0; s < base.n; s += d.size()) {
        const size_t m = std::min(d.size(), base.n - s);
        ltm::ann::l2_sq_batch(q.row(size_t(i)), base.row(s), size_t(base.dim), m, size_t(base.dim), d.data());
        for (size_t j = 0; j < m; ++j) {
          if (top.would_enter(d[j])) top.push(s + j, d[j]);
        }
      }
      auto r = top.take_sorted();
      for (size_t j = 0; j < r.size(); ++j) out[size_t(i) * k + j] = int32_t(r[j].id);
      if (++progress % 100 == 0) std::fprintf(stderr, "  ground truth: %zu / %zu queries\n", progress.load(), q.n);
    }
  });
  if (Status s = ltm::ann::write_ivecs(a.str("out"), out.data(), q.n, k); !s.is_ok()) die(s.message());
  return 0;
}

// ---- child processes -----------------------------------------------------------------------

// The memory cgroup (v1) of this process, or "" when there is none we can use.
std::string own_memcg() {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    auto p = line.find(":memory:");
    if (p != std::string::npos) {
      std::string dir = "/sys/fs/cgroup/memory" + line.substr(p + 8);
      if (::access((dir + "/memory.limit_in_bytes").c_str(), W_OK) == 0 || ::access(dir.c_str(), W_OK) == 0) return dir;
    }
  }
  return "";
}

// Runs this binary with `args` and returns the JSON lines it printed. With memcg_bytes > 0 the
// child runs inside a new memory cgroup limited to that many bytes.
std::vector<nlohmann::json> spawn(const std::vector<std::string>& args, uint64_t memcg_bytes = 0) {
  std::string cg;
  if (memcg_bytes > 0) {
    const std::string parent = own_memcg();
    if (parent.empty()) die("--memcg: no writable memory cgroup (needs root and cgroup v1 memory)");
    cg = parent + "/mnemo-ann-bench-" + std::to_string(::getpid());
    ::mkdir(cg.c_str(), 0755);
    std::ofstream(cg + "/memory.limit_in_bytes") << memcg_bytes;
  }
  int fds[2];
  if (::pipe(fds) != 0) die("pipe failed");
  std::fprintf(stderr, "mnemo_ann_bench:");
  for (const auto& s : args) std::fprintf(stderr, " %s", s.c_str());
  std::fprintf(stderr, memcg_bytes > 0 ? " (memory cgroup %llu MiB)\n" : "\n", (unsigned long long)(memcg_bytes >> 20));
  pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    if (!cg.empty()) std::ofstream(cg + "/cgroup.procs") << ::getpid();
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    static std::string self = "/proc/self/exe";
    argv.push_back(self.data());
    for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::vector<nlohmann::json> out;
  std::string buf;
  char chunk[4096];
  ssize_t r;
  while ((r = ::read(fds[0], chunk, sizeof chunk)) > 0) buf.append(chunk, size_t(r));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!cg.empty()) ::rmdir(cg.c_str());
  std::stringstream ss(buf);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "mnemo_ann_bench: child failed (status %d)\n", status);
    out.push_back({{"kind", "failed"}, {"status", status}});
  }
  return out;
}

std::string mib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f", bytes / 1048576.0);
  return b;
}

struct MethodResult {
  std::string name;
  nlohmann::json build;
  nlohmann::json done;
  std::vector<nlohmann::json> points;
};

std::string cell(const MethodResult& m, double target) {
  const nlohmann::json* best = nullptr;
  for (const auto& p : m.points) {
    if (p["recall"].get<double>() >= target && (best == nullptr || p["qps"].get<double>() > (*best)["qps"].get<double>())) best = &p;
  }
  if (best == nullptr) {
    double r = 0;
    for (const auto& p : m.points) r = std::max(r, p["recall"].get<double>());
    char b[64];
    std::snprintf(b, sizeof b, "not reached (max %.3f)", r);
    return b;
  }
  char b[160];
  std::string extra;
  if (best->contains("scanned")) {
    char e[96];
    std::snprintf(e, sizeof e, ", %.0f scanned, %.0f reads", (*best)["scanned"].get<double>(), (*best)["reads4k"].get<double>());
    extra = e;
  }
  std::snprintf(b, sizeof b, "%.0f QPS (effort %g, recall %.3f%s)", (*best)["qps"].get<double>(),
                (*best)["effort"].get<double>(), (*best)["recall"].get<double>(), extra.c_str());
  return b;
}

int cmd_run(const Args& a) {
  const std::string set = a.str("set", "siftsmall");
  // Data, ground truth and indexes live beside the binary (under the build directory) by default.
  std::string self_dir = "/proc/self/exe";
  {
    char buf[4096];
    const ssize_t len = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (len > 0) {
      self_dir.assign(buf, size_t(len));
      self_dir = self_dir.substr(0, self_dir.find_last_of('/'));
    }
  }
  const std::string work = a.str("work", self_dir + "/data");
  const int threads = int(a.num("threads", 2));
  ::mkdir(work.c_str(), 0755);
  std::string base, query, gt, dir;
  size_t n;
  if (set == "siftsmall") {
    const char* env = std::getenv("MNEMO_DATA");
    const std::string data = env != nullptr && env[0] != '\0' ? env : "../shared/data";
    base = data + "/ann/siftsmall_base.fvecs";
    query = data + "/ann/siftsmall_query.fvecs";
    gt = data + "/ann/siftsmall_groundtruth.ivecs";
    n = 10000;
    dir = work + "/siftsmall";
  } else {
    n = size_t(a.num("n", 1000000));
    const size_t nq = size_t(a.num("nq", 1000));
    dir = work + "/" + set + "-" + std::to_string(n);
    base = dir + "/base.fvecs";
    query = dir + "/query.fvecs";
    gt = dir + "/gt.ivecs";
    ::mkdir(dir.c_str(), 0755);
    if (!file_exists(base) || !file_exists(query)) {
      spawn({"gen", "--set", set, "--n", std::to_string(n), "--nq", std::to_string(nq), "--base", base, "--query", query});
    }
    if (!file_exists(gt)) {
      const double t0 = now_seconds();
      spawn({"gt", "--base", base, "--query", query, "--out", gt, "--threads", std::to_string(threads)});
      std::fprintf(stderr, "mnemo_ann_bench: ground truth in %.0f s\n", now_seconds() - t0);
    }
  }
  ::mkdir(dir.c_str(), 0755);
  const std::string methods = a.str("methods", "spann,hnsw,ivf,ivf-disk");
  const std::map<std::string, std::string> default_efforts = {
      {"spann", "1,2,3,4,5,6,7,8,10,12,14,16,20,24,32,48,64,96,128,192,256,384,512,768,1024,1536,2048,3072,4096"},
      {"hnsw", "10,16,24,32,48,64,96,128,192,256,384,512,768,1024,1536,2048,3072,4096"},
      {"ivf", "1,2,3,4,6,8,12,16,24,32,48,64,96,128,192,256,384,512,768,1024,1536,2048"},
      {"ivf-disk", "1,2,3,4,6,8,12,16,24,32,48,64,96,128,192,256,384,512,768,1024,1536,2048"}};
  // Options passed through to the children.
  std::vector<std::string> pass;
  for (const auto& [k, v] : a.kv) {
    if (k.rfind("spann-", 0) == 0 || k.rfind("hnsw-", 0) == 0 || k.rfind("ivf-", 0) == 0 || k == "max-seconds" ||
        k == "stop-recall" || k == "nq") {
      pass.push_back("--" + k);
      pass.push_back(v);
    }
  }
  std::vector<MethodResult> results;
  uint64_t spann_peak = 0;
  std::vector<std::string> order;
  std::stringstream ms(methods);
  for (std::string m; std::getline(ms, m, ',');) order.push_back(m);
  if (a.num("memcg", 0) != 0 && std::find(order.begin(), order.end(), "ivf-disk") != order.end()) {
    order.push_back("ivf-disk@memcg");
  }
  for (const std::string& name : order) {
    const bool memcg = name == "ivf-disk@memcg";
    const std::string m = memcg ? "ivf-disk" : name;
    const std::string tag = a.str(m + "-tag", "");
    const std::string index = dir + "/index-" + m + tag;
    const std::string build_json = index + ".build.json";
    MethodResult r;
    r.name = name;
    if (memcg) {
      for (const auto& x : results) {
        if (x.name == "ivf-disk") r.build = x.build;
      }
    } else if (a.num("rebuild", 0) != 0 || !file_exists(build_json)) {
      std::vector<std::string> args = {"build", "--method", m, "--base", base, "--index", index, "--threads",
                                       std::to_string(threads)};
      args.insert(args.end(), pass.begin(), pass.end());
      for (auto& j : spawn(args)) {
        if (j["kind"] == "build") r.build = j;
      }
      if (r.build.is_null()) die(m + ": build failed");
      if (Status s = write_file_atomic(build_json, r.build.dump()); !s.is_ok()) die(s.message());
    } else {
      r.build = nlohmann::json::parse(*read_file(build_json));
    }
    std::vector<std::string> args = {"search", "--method", m, "--index", index, "--query", query, "--gt", gt,
                                     "--efforts", a.str(m + "-efforts", default_efforts.at(m))};
    args.insert(args.end(), pass.begin(), pass.end());
    uint64_t limit = 0;
    if (memcg) limit = uint64_t(a.num("memcg-bytes", 0)) != 0 ? uint64_t(a.num("memcg-bytes", 0)) : spann_peak;
    if (memcg && limit == 0) die("--memcg: run spann first (its search peak RSS is the limit) or give --memcg-bytes");
    for (auto& j : spawn(args, limit)) {
      if (j["kind"] == "point") r.points.push_back(j);
      if (j["kind"] == "search_done") r.done = j;
    }
    if (memcg) r.done["memcg_limit"] = limit;
    if (m == "spann" && !r.done.is_null()) spann_peak = r.done["peak_rss"].get<uint64_t>();
    results.push_back(r);
  }

  // The table.
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::localtime(&now));
  std::printf("\n### %s (n = %zu), %s, recall@10, 1 search thread, distance %s\n\n", set.c_str(), n, date,
              ltm::ann::distance_target_name());
  std::printf("| method | parameters | build s | build peak RSS MiB | search peak RSS MiB | recall >= 0.90 | recall >= 0.95 |\n");
  std::printf("|---|---|---:|---:|---:|---|---|\n");
  nlohmann::json all = nlohmann::json::array();
  for (const auto& r : results) {
    // A child that died (e.g. killed in its memory cgroup) leaves no search_done record.
    const bool ran = r.done.is_object() && r.done.contains("peak_rss") && r.done["peak_rss"].is_number();
    const double search_peak = ran ? r.done["peak_rss"].get<double>() : 0.0;
    std::string params = r.build.value("params", std::string(""));
    if (r.name == "ivf-disk@memcg") {
      const double limit = r.done.is_object() && r.done.contains("memcg_limit") && r.done["memcg_limit"].is_number()
                               ? r.done["memcg_limit"].get<double>()
                               : 0.0;
      params += ", memory cgroup " + mib(limit) + " MiB";
    }
    if (!ran) params += " (search failed or was killed: see the log above)";
    std::printf("| %s | %s | %.0f | %s | %s | %s | %s |\n", r.name.c_str(), params.c_str(),
                r.build.value("seconds", 0.0), mib(r.build.value("peak_rss", 0.0)).c_str(), mib(search_peak).c_str(),
                cell(r, 0.90).c_str(), cell(r, 0.95).c_str());
    all.push_back({{"method", r.name}, {"build", r.build}, {"search", r.done}, {"points", r.points}});
  }
  const std::string out = dir + "/results.json";
  if (Status s = write_file_atomic(out, all.dump(1)); !s.is_ok()) die(s.message());
  std::printf("\n(all sweep points: %s)\n", out.c_str());
  return 0;
}

}  // namespace
}  // namespace mnemo::ann_bench

int main(int argc, char** argv) {
  using namespace mnemo::ann_bench;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: mnemo_ann_bench run --set siftsmall|gauss|mixture [--n N] [--nq Q] [--methods spann,hnsw,ivf,ivf-disk]\n"
                 "                           [--memcg 1] [--rebuild 1] [--threads 2] [--work DIR] [--<method>-efforts a,b,c]\n"
                 "       mnemo_ann_bench gen --set gauss|mixture --n N --nq Q --base F --query F\n"
                 "       mnemo_ann_bench gt --base F --query F --out F [--k 100] [--threads 2]\n"
                 "       mnemo_ann_bench build --method spann|hnsw|ivf|ivf-disk --base F --index PATH\n"
                 "       mnemo_ann_bench search --method M --index PATH --query F --gt F --efforts a,b,c\n"
                 "       mnemo_ann_bench filter --index SPANN_DIR --base F --query F [--nq 100] [--users 100,1000,10000,100000]\n");
    return 2;
  }
  Args a;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) die("expected --option value, found " + k);
    a.kv[k.substr(2)] = argv[i + 1];
  }
  const std::string cmd = argv[1];
  if (cmd == "run") return cmd_run(a);
  if (cmd == "gen") return cmd_gen(a);
  if (cmd == "gt") return cmd_gt(a);
  if (cmd == "filter") return filter_spann(a);
  const std::string m = a.str("method");
  if (cmd == "build") {
    if (m == "spann") return build_spann(a);
    if (m == "hnsw") return build_hnsw(a);
    if (m == "ivf" || m == "ivf-disk") return build_faiss(a, m == "ivf-disk");
  }
  if (cmd == "search") {
    if (m == "spann") return search_spann(a);
    if (m == "hnsw") return search_hnsw(a);
    if (m == "ivf" || m == "ivf-disk") return search_faiss(a, m == "ivf-disk");
  }
  die("unknown command or method: " + cmd + " " + m);
}
