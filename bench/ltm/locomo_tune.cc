// ltm_locomo: LoCoMo evidence recall for one retrieval configuration or a grid, with a
// leave-one-conversation-out check that parameters chosen on the other conversations transfer.
//
//   ltm_locomo FILE [--dir DIR] [--dim N] [--k1 X] [--b X] [--ctx w1,w2,..] [--vw X] [--rrf X]
//              [--mode hybrid|bm25|vector] [--grid] [--json]
//
// --grid evaluates a small grid of generic parameters (BM25 b, neighbourhood weights, vector
// weight); for each conversation it picks the configuration with the best mean recall@10 (mean
// of categories 1-4) on the *other* conversations and reports that configuration's score on the
// held-out one.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/strings.h"
#include "mnemo/memory.h"

using namespace mnemo;
using namespace mnemo::ltm;

namespace {

std::vector<double> parse_list(const char* s) {
  std::vector<double> v;
  for (const auto& p : split(s, ','))
    if (!p.empty()) v.push_back(std::atof(p.c_str()));
  return v;
}

struct Cfg {
  std::string name;
  RetrievalConfig r;
};

// Index of k=10 in ks {1,5,10,50}.
constexpr int kK10 = 2;

double macro10(const std::vector<RecallRow>& rows) {
  for (const auto& r : rows)
    if (r.category == 0) return r.recall[kK10];
  return 0;
}
double cat10(const std::vector<RecallRow>& rows, int c) {
  for (const auto& r : rows)
    if (r.category == c) return r.recall[kK10];
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ltm_locomo FILE [--dim N] [--k1 X] [--b X] [--ctx w,..] [--vw X] [--grid]\n");
    return 2;
  }
  LocomoOptions opt;
  std::string file = argv[1];
  bool grid = false, json = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") opt.dir = next();
    else if (a == "--dim") opt.config.embedder.dim = std::atoi(next());
    else if (a == "--k1") opt.config.retrieval.bm25_k1 = std::atof(next());
    else if (a == "--b") opt.config.retrieval.bm25_b = std::atof(next());
    else if (a == "--ctx") opt.config.retrieval.context_weights = parse_list(next());
    else if (a == "--vw") opt.config.retrieval.vector_weight = std::atof(next());
    else if (a == "--rrf") opt.config.retrieval.rrf_k = std::atof(next());
    else if (a == "--no-dedup") opt.config.dedup = false;
    else if (a == "--recall-sim") opt.config.recall_min_similarity = std::atof(next());
    else if (a == "--recall-share") opt.config.recall_min_share = std::atof(next());
    else if (a == "--no-link") opt.config.link = false;
    else if (a == "--grid") grid = true;
    else if (a == "--json") json = true;
    else if (a == "--mode") {
      std::string m = next();
      // handled below through vector_weight / bm25_weight
      if (m == "bm25") opt.config.retrieval.vector_weight = 0;
      if (m == "vector") opt.config.retrieval.bm25_weight = 0;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (!grid) {
    opt.progress = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
    auto r = eval_locomo(file, opt);
    if (!r) {
      std::fprintf(stderr, "error: %s\n", r.status().message().c_str());
      return 1;
    }
    std::printf("%s", json ? r->to_json().c_str() : r->to_table().c_str());
    const auto& ours = r->systems[0];
    std::printf("per conversation mean-of-1-4 R@10:");
    for (size_t c = 0; c < ours.per_conversation.size(); ++c) std::printf(" %.3f", macro10(ours.per_conversation[c]));
    std::printf("\n");
    return 0;
  }
  // The grid: generic knobs only.
  std::vector<Cfg> cfgs;
  for (double b : {0.2, 0.5, 0.75})
    for (const auto& ctx : std::vector<std::vector<double>>{{}, {0.2}, {0.3, 0.15, 0.05}, {0.5, 0.25, 0.1}})
      for (double vw : {0.0, 0.4, 1.0}) {
        Cfg c;
        c.r = opt.config.retrieval;
        c.r.bm25_b = b;
        c.r.context_weights = ctx;
        c.r.vector_weight = vw;
        std::string cs;
        for (double w : ctx) cs += str_printf("%s%.2f", cs.empty() ? "" : "/", w);
        c.name = str_printf("b=%.2f ctx=%s vw=%.1f", b, cs.empty() ? "-" : cs.c_str(), vw);
        cfgs.push_back(c);
      }
  std::vector<std::vector<std::vector<RecallRow>>> per;  // cfg -> conv -> rows
  std::vector<std::vector<RecallRow>> base_rows;
  for (size_t i = 0; i < cfgs.size(); ++i) {
    LocomoOptions o = opt;
    if (!opt.dir.empty()) o.dir = opt.dir + str_printf("/%zu", i);  // a fresh store per configuration
    o.config.retrieval = cfgs[i].r;
    o.baseline = (i == 0);
    auto r = eval_locomo(file, o);
    if (!r) {
      std::fprintf(stderr, "error: %s\n", r.status().message().c_str());
      return 1;
    }
    per.push_back(r->systems[0].per_conversation);
    if (i == 0) base_rows = r->systems[1].per_conversation;
    double mean = 0;
    for (const auto& rows : per.back()) mean += macro10(rows);
    std::fprintf(stderr, "%-34s mean over conversations of R@10(1-4) %.3f\n", cfgs[i].name.c_str(),
                 mean / per.back().size());
  }
  const size_t n_conv = per[0].size();
  std::printf("leave-one-conversation-out (R@10, mean of categories 1-4; category 1):\n");
  double lo_sum = 0, lo1 = 0, b_sum = 0, b1 = 0, fixed_sum = 0, fixed1 = 0;
  for (size_t held = 0; held < n_conv; ++held) {
    size_t best = 0;
    double best_v = -1;
    for (size_t i = 0; i < cfgs.size(); ++i) {
      double v = 0;
      for (size_t c = 0; c < n_conv; ++c)
        if (c != held) v += macro10(per[i][c]);
      if (v > best_v) {
        best_v = v;
        best = i;
      }
    }
    double got = macro10(per[best][held]), got1 = cat10(per[best][held], 1);
    double bm = macro10(base_rows[held]), bm1 = cat10(base_rows[held], 1);
    double fx = macro10(per[0][held]);
    (void)fx;
    std::printf("  held out %zu: chose [%s] -> %.3f (cat1 %.3f); plain BM25 %.3f (cat1 %.3f)\n", held,
                cfgs[best].name.c_str(), got, got1, bm, bm1);
    lo_sum += got;
    lo1 += got1;
    b_sum += bm;
    b1 += bm1;
  }
  (void)fixed_sum;
  (void)fixed1;
  std::printf("  mean: chosen-on-others %.3f (cat1 %.3f) vs BM25 %.3f (cat1 %.3f)\n", lo_sum / n_conv, lo1 / n_conv,
              b_sum / n_conv, b1 / n_conv);
  return 0;
}
