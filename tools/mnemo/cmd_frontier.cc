// mnemo frontier: the accuracy-size frontier of every weight type on one model. Each type (and
// group size) is written with `quantize` into a scratch directory (token_embd and output in q8_0
// everywhere, so every file differs only in the weights the type applies to), then all of them are
// evaluated on the same chunks of a text as `mnemo perplexity --kl-ref MODEL` does: perplexity, the
// mean KL divergence from the original model's next-token distribution, and top-1 agreement. The
// decode kernel of each type is timed on a random n x n matrix. Output: a Markdown table (or
// --json), and with --svg a plot of KL and perplexity against bits per weight.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "command.h"
#include "common_options.h"
#include "mnemo/evaluate.h"
#include "mnemo/mnemo.h"
#include "mnemo/quantize.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

struct FrontierOptions {
  std::string model;
  std::string text;
  std::string calib;
  std::string svg;
  std::string workdir;
  std::string types;   // comma-separated subset of quantize_type_names()
  std::string groups;  // comma-separated subset of 32,64,128
  int64_t n_ctx = 128;
  int64_t n_chunks = -1;
  EngineOptions engine;    // -t: threads for quantizing and evaluating; --mem
  ContextOptions context;  // --cache-type-k/-v (-c is declared here: a chunk size)
  int64_t kernel_n = 4096;
  int kernel_threads = 1;
  int kernel_reps = 10;
  bool json = false;
  bool keep = false;
};

struct Row {
  std::string name;   // "bitmod4 g64", "q4_0", "bipolar:2"
  std::string type;   // --type
  int group = 0;
  bool awq = false;
  std::string family;  // ggml, int, fp, bitmod, bipolar
  std::string path;
  QuantizeReport rep;
  PerplexityResult eval;
  double kernel_us = -1, kernel_gbs = 0;
  double ppl() const { return eval.ppl; }
  double kl_mean() const { return eval.kl; }
  double kl_se() const { return eval.kl_stderr; }
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string family_of(const std::string& type) {
  if (type.rfind("bitmod", 0) == 0) return "bitmod";
  if (type.rfind("bipolar", 0) == 0) return "bipolar";
  if (type.rfind("int", 0) == 0) return "int";
  if (type.rfind("fp", 0) == 0) return "fp";
  return "ggml";
}

// Threads of this process now (Linux: entries of /proc/self/task; -1 elsewhere).
int process_threads() {
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.' ? 1 : 0;
  ::closedir(d);
  return n;
}

// Loads candidates from rows[b0] on, each with its context, while the budget holds them (at
// least one; at most 2 GiB of files, which is what keeps the machine's page cache useful).
Status load_group(const std::vector<Row>& rows, size_t b0, const std::shared_ptr<Engine>& engine,
                  const ContextParams& cp, std::vector<std::unique_ptr<Model>>& models,
                  std::vector<std::unique_ptr<Context>>& ctxs) {
  uint64_t bytes = 0;
  for (size_t i = b0; i < rows.size() && (i == b0 || bytes + rows[i].rep.file_bytes < (2ull << 30)); ++i) {
    ModelParams mp;
    mp.engine = engine;
    auto m = Model::load(rows[i].path, mp);
    std::unique_ptr<Context> c;
    if (m.has_value()) {
      auto cx = Context::create(**m, cp);
      if (!cx.has_value() && (cx.status().code() != StatusCode::kResourceExhausted || i == b0)) return cx.status();
      if (cx.has_value()) c = std::move(*cx);
    } else if (m.status().code() != StatusCode::kResourceExhausted || i == b0) {
      return m.status().with_context(rows[i].name);
    }
    if (!c) break;  // the budget is full: evaluate what is loaded first
    bytes += rows[i].rep.file_bytes;
    models.push_back(std::move(*m));
    ctxs.push_back(std::move(c));
  }
  return Status::ok();
}

std::string svg_plot(const std::vector<Row>& rows, const std::string& model_name, double ref_ppl) {
  // Two panels: KL (log scale) and perplexity against bits per weight.
  const double W = 1000, H = 460, panel_w = 440, panel_h = 340, top = 60, left0 = 70, gap = 60;
  double xmin = 1e9, xmax = 0, klmin = 1e9, klmax = 0, pmin = ref_ppl, pmax = ref_ppl;
  for (const Row& r : rows) {
    xmin = std::min(xmin, r.rep.method_bpw());
    xmax = std::max(xmax, r.rep.method_bpw());
    klmin = std::min(klmin, std::max(r.kl_mean(), 1e-6));
    klmax = std::max(klmax, std::max(r.kl_mean(), 1e-6));
    pmin = std::min(pmin, r.ppl());
    pmax = std::max(pmax, r.ppl());
  }
  xmin = std::floor(xmin) - 0.25;
  xmax = std::ceil(xmax) + 0.25;
  const double lk0 = std::floor(std::log10(klmin)), lk1 = std::ceil(std::log10(klmax));
  const double lp0 = std::log(pmin) - 0.02, lp1 = std::log(pmax) + 0.02;
  const std::map<std::string, std::string> colour = {
      {"ggml", "#444444"}, {"int", "#1f77b4"}, {"fp", "#2ca02c"}, {"bitmod", "#d62728"}, {"bipolar", "#9467bd"}};
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Weight types on " << model_name
    << ": accuracy against bits per weight</text>\n";
  for (int panel = 0; panel < 2; ++panel) {
    const double x0 = left0 + panel * (panel_w + gap), y0 = top;
    auto px = [&](double bpw) { return x0 + (bpw - xmin) / (xmax - xmin) * panel_w; };
    auto py = [&](double v) {
      const double f = panel == 0 ? (std::log10(std::max(v, 1e-6)) - lk0) / (lk1 - lk0) : (std::log(v) - lp0) / (lp1 - lp0);
      return y0 + panel_h - f * panel_h;
    };
    s << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << panel_w << "\" height=\"" << panel_h
      << "\" fill=\"none\" stroke=\"black\"/>\n";
    for (double b = std::ceil(xmin); b <= xmax; b += 1) {
      s << "<line x1=\"" << px(b) << "\" y1=\"" << y0 << "\" x2=\"" << px(b) << "\" y2=\"" << y0 + panel_h
        << "\" stroke=\"#dddddd\"/>\n<text x=\"" << px(b) << "\" y=\"" << y0 + panel_h + 15 << "\" text-anchor=\"middle\">" << b
        << "</text>\n";
    }
    if (panel == 0) {
      for (double e = lk0; e <= lk1; e += 1) {
        const double y = py(std::pow(10.0, e));
        s << "<line x1=\"" << x0 << "\" y1=\"" << y << "\" x2=\"" << x0 + panel_w << "\" y2=\"" << y
          << "\" stroke=\"#dddddd\"/>\n<text x=\"" << x0 - 5 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">1e" << e
          << "</text>\n";
      }
    } else {
      for (int k = 0; k <= 4; ++k) {
        const double v = std::exp(lp0 + (lp1 - lp0) * k / 4);
        const double y = py(v);
        s << "<line x1=\"" << x0 << "\" y1=\"" << y << "\" x2=\"" << x0 + panel_w << "\" y2=\"" << y
          << "\" stroke=\"#dddddd\"/>\n<text x=\"" << x0 - 5 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
          << str_printf("%.2f", v) << "</text>\n";
      }
      const double yr = py(ref_ppl);
      s << "<line x1=\"" << x0 << "\" y1=\"" << yr << "\" x2=\"" << x0 + panel_w << "\" y2=\"" << yr
        << "\" stroke=\"black\" stroke-dasharray=\"4,3\"/>\n<text x=\"" << x0 + panel_w - 4 << "\" y=\"" << yr - 4
        << "\" text-anchor=\"end\">original " << str_printf("%.3f", ref_ppl) << "</text>\n";
    }
    s << "<text x=\"" << x0 + panel_w / 2 << "\" y=\"" << y0 + panel_h + 32
      << "\" text-anchor=\"middle\">bits per weight (tensors in the type)</text>\n";
    s << "<text transform=\"translate(" << x0 - 48 << "," << y0 + panel_h / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << (panel == 0 ? "mean KL divergence from the original (log)" : "perplexity (log)") << "</text>\n";
    for (const Row& r : rows) {
      const double x = px(r.rep.method_bpw()), y = py(panel == 0 ? r.kl_mean() : r.ppl());
      const std::string c = colour.at(r.family);
      if (r.awq) {
        s << "<rect x=\"" << x - 3.5 << "\" y=\"" << y - 3.5 << "\" width=\"7\" height=\"7\" fill=\"none\" stroke=\"" << c << "\"/>\n";
      } else {
        s << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"3.5\" fill=\"" << c << "\"/>\n";
      }
      s << "<text x=\"" << x + 5 << "\" y=\"" << y - 4 << "\" font-size=\"8\" fill=\"" << c << "\">" << r.name << "</text>\n";
    }
  }
  double lx = left0;
  for (const char* fam : {"ggml", "int", "fp", "bitmod", "bipolar"}) {
    s << "<circle cx=\"" << lx << "\" cy=\"" << H - 18 << "\" r=\"4\" fill=\"" << colour.at(fam) << "\"/><text x=\"" << lx + 8
      << "\" y=\"" << H - 14 << "\">" << fam << "</text>\n";
    lx += 90;
  }
  s << "<text x=\"" << lx << "\" y=\"" << H - 14 << "\">(squares: with activation-aware scaling)</text>\n</svg>\n";
  return s.str();
}

Status run(const FrontierOptions& o) {
  if (o.n_ctx < 8) return usage_error("--ctx-size: expected at least 8");
  const int threads_at_start = process_threads();  // libraries' own threads (OpenBLAS starts some)
  if (!o.calib.empty()) {
    char a[PATH_MAX], b[PATH_MAX];
    if (realpath(o.calib.c_str(), a) != nullptr && realpath(o.text.c_str(), b) != nullptr && std::string(a) == b) {
      return usage_error("--calib: the calibration text must not be the evaluation text (" + o.text + ")");
    }
  }
  if (auto t = read_text_file(o.text); !t.has_value()) return t.status();  // fail before quantizing
  MNEMO_ASSIGN_OR_RETURN(auto engine, o.engine.create());
  ModelParams ref_params;
  ref_params.engine = engine;
  MNEMO_ASSIGN_OR_RETURN(auto ref, Model::load(o.model, ref_params));
  const ModelInfo& info = ref->info();

  // Candidates. Types and group sizes named on the command line must exist and fit the model;
  // by default every type and group size that fits is taken.
  const std::vector<std::string> all_types = quantize_type_names();
  std::set<std::string> want_types;
  for (const std::string& t : split(o.types)) {
    if (std::find(all_types.begin(), all_types.end(), t) == all_types.end() || t == "f32" || t == "bf16") {
      std::string names;
      for (const std::string& a : all_types) {
        if (a != "f32" && a != "bf16") names += (names.empty() ? "" : ", ") + a;
      }
      return usage_error("--types: expected a comma-separated list of " + names + ", found '" + t + "'");
    }
    want_types.insert(t);
  }
  std::vector<int> groups;
  for (const std::string& g : split(o.groups.empty() ? "32,64,128" : o.groups)) {
    if (g != "32" && g != "64" && g != "128") return usage_error("--groups: expected 32, 64 or 128, found '" + g + "'");
    const int gi = std::atoi(g.c_str());
    if (!o.groups.empty() && info.n_embd % gi != 0) {
      return usage_error(str_printf("--groups: %d does not divide the model's rows of %lld elements", gi,
                                    static_cast<long long>(info.n_embd)));
    }
    groups.push_back(gi);
  }
  std::vector<Row> rows;
  auto wanted = [&](const std::string& t) { return want_types.empty() || want_types.count(t) > 0; };
  const std::vector<std::string> grouped_types = group_type_names();
  for (const std::string& t : all_types) {
    if (!wanted(t) || t == "f32" || t == "bf16") continue;
    const bool grouped = std::find(grouped_types.begin(), grouped_types.end(), t) != grouped_types.end();
    const int block = t == "q4_k" || t == "q6_k" ? 256 : t.rfind("bipolar", 0) == 0 ? 64 : 0;
    if (block > 0 && info.n_embd % block != 0) {  // every tensor would fall back
      if (!want_types.empty()) {
        std::fprintf(stderr, "mnemo: frontier: skipping %s: its blocks of %d do not divide the model's rows of %lld\n",
                     t.c_str(), block, static_cast<long long>(info.n_embd));
      }
      continue;
    }
    for (int g : grouped ? groups : std::vector<int>{0}) {
      if (grouped && info.n_embd % g != 0) continue;
      for (int awq = 0; awq <= (o.calib.empty() ? 0 : 1); ++awq) {
        Row r;
        r.type = t;
        r.group = g;
        r.awq = awq != 0;
        r.family = family_of(t);
        r.name = t + (g ? " g" + std::to_string(g) : "") + (r.awq ? " +awq" : "");
        rows.push_back(r);
      }
    }
  }
  if (rows.empty()) return usage_error("--types/--groups: no type applies to this model");

  std::string dir = o.workdir;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/mnemo-frontier-" + std::to_string(getpid());
  }
  ::mkdir(dir.c_str(), 0755);
  // The quantized files go when the command ends, on success or error (unless --keep).
  struct Cleanup {
    const FrontierOptions& o;
    const std::vector<Row>& rows;
    const std::string& dir;
    ~Cleanup() {
      if (o.keep) return;
      for (const Row& r : rows) {
        if (!r.path.empty()) std::remove(r.path.c_str());
      }
      if (o.workdir.empty()) ::rmdir(dir.c_str());
    }
  } cleanup{o, rows, dir};

  // Quantize.
  for (size_t i = 0; i < rows.size(); ++i) {
    Row& r = rows[i];
    QuantizeParams p;
    p.input = o.model;
    r.path = dir + "/" + std::to_string(i) + ".gguf";
    p.output = r.path;
    p.type = r.type;
    p.group = r.group;
    p.embd_type = "q8_0";
    p.output_type = "q8_0";
    p.n_threads = engine->n_threads();
    if (r.awq) p.calib_file = o.calib;
    std::fprintf(stderr, "\rmnemo: frontier: quantizing %zu/%zu: %-24s", i + 1, rows.size(), r.name.c_str());
    MNEMO_RETURN_IF_ERROR(quantize_model(p, &r.rep).with_context(r.name));
  }
  std::fputc('\n', stderr);

  // Evaluate all candidates on the same chunks, the reference once per chunk, in groups of as
  // many candidates as the budget holds at once (each candidate: its weights and its context).
  // Everything runs on the engine's one pool, one forward pass at a time.
  std::unique_ptr<MemoryReservation> tokens_lease;
  MNEMO_ASSIGN_OR_RETURN(const std::vector<Token> tokens, tokenize_file(o.text, *engine, ref->tokenizer(), &tokens_lease));
  ContextParams cp;
  cp.n_ctx = o.n_ctx;
  cp.n_batch = o.n_ctx;
  cp.n_batch_min = o.n_ctx;
  cp.logits_all = true;
  // Every candidate gets the reference's KV cache types (given, or the reference's default), so the
  // differences measured are the weights' alone.
  MNEMO_ASSIGN_OR_RETURN(const KvCacheTypes kv,
                         kv_cache_types(*ref, o.context.type_k, o.context.type_v));
  cp.type_k = kv.type_k;
  cp.type_v = kv.type_v;
  MNEMO_ASSIGN_OR_RETURN(auto ref_ctx, Context::create(*ref, cp));
  PerplexityParams pp;
  pp.n_ctx = o.n_ctx;
  pp.n_chunks = o.n_chunks;
  const double t0 = now_seconds();
  int threads_with_contexts = -1;  // threads started by this command once the first group's contexts exist
  double ref_ppl = 0;
  int64_t n_chunks = 0;
  for (size_t b0 = 0; b0 < rows.size();) {
    std::vector<std::unique_ptr<Model>> models;
    std::vector<std::unique_ptr<Context>> ctxs;
    MNEMO_RETURN_IF_ERROR(load_group(rows, b0, engine, cp, models, ctxs));
    const size_t b1 = b0 + ctxs.size();
    if (b0 == 0 && threads_at_start > 0) threads_with_contexts = process_threads() - threads_at_start;
    std::vector<Context*> group;
    for (auto& c : ctxs) group.push_back(c.get());
    auto progress = [&](int64_t done, int64_t n, const PerplexityResult&) {
      if (done % 16 != 0 && done != n) return;
      std::fprintf(stderr, "\rmnemo: frontier: evaluating types %zu-%zu of %zu: chunk %lld/%lld, %.0f s", b0 + 1, b1,
                   rows.size(), static_cast<long long>(done), static_cast<long long>(n), now_seconds() - t0);
    };
    MNEMO_ASSIGN_OR_RETURN(auto results, evaluate_perplexity(tokens, ref->tokenizer().bos(), group, ref_ctx.get(), pp, progress));
    for (size_t i = 0; i < results.size(); ++i) rows[b0 + i].eval = results[i];
    ref_ppl = results[0].ref_ppl;
    n_chunks = results[0].n_chunks;
    b0 = b1;
  }
  std::fputc('\n', stderr);

  // Decode kernel speed.
  if (o.kernel_n > 0) {
    for (size_t i = 0; i < rows.size(); ++i) {
      Row& r = rows[i];
      if (r.awq) continue;  // same kernel as the row without scaling
      std::fprintf(stderr, "\rmnemo: frontier: timing %zu/%zu: %-24s", i + 1, rows.size(), r.name.c_str());
      auto k = time_decode_kernel(r.type, r.group, o.kernel_n, o.kernel_n, o.kernel_threads, o.kernel_reps);
      if (!k) return k.status();
      r.kernel_us = k->seconds * 1e6;
      r.kernel_gbs = k->gbytes_per_s;
    }
    for (Row& r : rows) {
      if (!r.awq) continue;
      for (const Row& b : rows) {
        if (!b.awq && b.type == r.type && b.group == r.group) r.kernel_us = b.kernel_us, r.kernel_gbs = b.kernel_gbs;
      }
    }
    std::fputc('\n', stderr);
  }

  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.rep.method_bpw() < b.rep.method_bpw(); });
  if (!o.svg.empty()) {
    const size_t slash = o.model.find_last_of('/');
    const std::string name = slash == std::string::npos ? o.model : o.model.substr(slash + 1);
    MNEMO_RETURN_IF_ERROR(write_file_atomically(o.svg, svg_plot(rows, name, ref_ppl)));
  }
  if (o.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model;
    j["text"] = o.text;
    j["calibration"] = o.calib;
    j["n_ctx"] = o.n_ctx;
    j["n_chunks"] = n_chunks;
    j["ref_ppl"] = ref_ppl;
    j["kernel_n"] = o.kernel_n;
    j["threads_started"] = threads_with_contexts;
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const Row& r : rows) {
      arr.push_back({{"name", r.name}, {"type", r.rep.type}, {"group", r.group}, {"awq", r.awq},
                     {"bpw", r.rep.method_bpw()}, {"weight_bpw", r.rep.weight_bpw()}, {"file_bytes", r.rep.file_bytes},
                     {"mse", r.rep.method_mse}, {"n_method", r.rep.n_method}, {"n_fallback", r.rep.n_fallback},
                     {"ppl", r.ppl()}, {"kl", r.kl_mean()}, {"kl_stderr", r.kl_se()},
                     {"top1", r.eval.top1}, {"kernel_us", r.kernel_us},
                     {"kernel_gbs", r.kernel_gbs}});
    }
    j["types"] = arr;
    std::printf("%s\n", j.dump(1).c_str());
    return Status::ok();
  }
  std::printf("Model %s, text %s: %lld chunks of %lld tokens; original perplexity %.4f. token_embd and output in q8_0, "
              "other fallbacks in f16 in every file.%s\n\n",
              o.model.c_str(), o.text.c_str(), static_cast<long long>(n_chunks), static_cast<long long>(o.n_ctx), ref_ppl,
              o.calib.empty() ? "" : (" Activation-aware scaling (+awq) calibrated on " + o.calib + ".").c_str());
  std::printf("| type | bits/weight | weight MSE | perplexity | KL divergence | top-1 | GEMV %lld² µs (GB/s) |\n",
              static_cast<long long>(o.kernel_n));
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %.4f | %.4e | %.4f | %.5f ± %.5f | %.2f%% | %s |\n", r.name.c_str(), r.rep.method_bpw(),
                r.rep.method_mse, r.ppl(), r.kl_mean(), r.kl_se(), 100.0 * r.eval.top1,
                r.kernel_us >= 0 ? str_printf("%.0f (%.1f)", r.kernel_us, r.kernel_gbs).c_str() : "-");
  }
  // The BitMoD comparisons at each group size (same tensors, same fallbacks).
  std::printf("\n");
  for (bool awq : {false, true}) {
    for (int g : groups) {
      for (const auto& [bm, rivals] : std::vector<std::pair<std::string, std::vector<std::string>>>{
               {"bitmod4", {"int4-sym", "int4-asym", "fp4"}}, {"bitmod3", {"int3-sym", "int3-asym", "fp3"}}}) {
        const Row* b = nullptr;
        for (const Row& r : rows) {
          if (r.type == bm && r.group == g && r.awq == awq) b = &r;
        }
        if (b == nullptr) continue;
        std::string line = str_printf("check g%d%s %s:", g, awq ? " +awq" : "", bm.c_str());
        for (const std::string& rv : rivals) {
          for (const Row& r : rows) {
            if (r.type != rv || r.group != g || r.awq != awq) continue;
            line += str_printf(" MSE %s %s, KL %s %s;", b->rep.method_mse <= r.rep.method_mse ? "<=" : "> ", rv.c_str(),
                               b->kl_mean() <= r.kl_mean() ? "<=" : "> ", rv.c_str());
          }
        }
        std::printf("%s\n", line.c_str());
      }
    }
  }
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<FrontierOptions>();
  app.add_option("-m,--model", o->model, "The original model (f32/f16/bf16 weights)")->required();
  app.add_option("-f,--file", o->text, "Evaluation text")->required();
  app.add_option("--calib", o->calib, "Calibration text: adds every type with activation-aware scaling (+awq)");
  app.add_option("--svg", o->svg, "Write the plot here");
  app.add_option("--types", o->types, "Comma-separated types (default: every type the model's shapes allow)");
  app.add_option("--groups", o->groups, "Comma-separated group sizes of the group types")->capture_default_str();
  app.add_option("-c,--ctx-size", o->n_ctx, "Tokens per chunk")->capture_default_str();
  app.add_option("--chunks", o->n_chunks, "Evaluate at most this many chunks (-1: all)")->capture_default_str();
  o->engine.add_to(app);
  o->context.add_kv_types(app);
  app.add_option("--kernel-n", o->kernel_n, "Time each decode kernel on an n x n matrix (0: skip)")
      ->capture_default_str();
  app.add_option("--kernel-threads", o->kernel_threads, "Threads of the kernel timing")
      ->capture_default_str();
  app.add_option("--kernel-reps", o->kernel_reps, "Timed repetitions per kernel (median)")
      ->capture_default_str();
  app.add_option("--workdir", o->workdir,
                 "Directory for the quantized files (default: a temporary one)");
  app.add_flag("--keep", o->keep, "Keep the quantized files");
  app.add_flag("--json", o->json, "Print JSON instead of the Markdown table");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("frontier", "Bits per weight against perplexity and KL for every weight type (table, JSON, SVG)", setup);

}  // namespace mnemo::cli
