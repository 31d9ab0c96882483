// mnemo gen-longctx: training or validation text for a long-context model: documents of exactly
// --seq-len - 1 tokens of stories and Shakespeare with passkeys and key-value lists inserted at
// random depths and asked for later (mnemo/longctx.h). Deterministic for a given --seed.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "mnemo/longctx.h"
#include "mnemo/mnemo.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

struct GenLongCtxOptions {
  std::vector<std::string> stories;
  std::string play;
  std::string tokenizer;
  std::string output;
  std::string index;
  std::string part = "train";
  int64_t docs = 1000;
  int64_t seq_len = 2048;
  LongCtxParams params;
  // MIN,MAX ranges (empty: the defaults of LongCtxParams).
  std::vector<int> kv_pairs, kv_queries, passkey_queries, drill_lists, drill_pairs, drill_queries;
  bool json = false;
};

// Copies a MIN,MAX option into the parameters (CLI11 has checked that it has two values).
void set_range(const std::vector<int>& v, int* lo, int* hi) {
  if (v.size() == 2) {
    *lo = v[0];
    *hi = v[1];
  }
}

Status run(GenLongCtxOptions& o) {
  if (o.seq_len < 257) return usage_error(str_printf("--seq-len %lld: expected at least 257", static_cast<long long>(o.seq_len)));
  if (o.docs < 1) return usage_error(str_printf("--docs %lld: expected at least 1", static_cast<long long>(o.docs)));
  const bool val = o.part == "val";
  MNEMO_ASSIGN_OR_RETURN(auto tok, Tokenizer::load(o.tokenizer));
  // The play is split 90/10 by lines: train draws from the first 90%, val from the rest.
  MNEMO_ASSIGN_OR_RETURN(LongCtxSources src, load_longctx_sources(o.stories, o.play, val ? 0.9 : 0.0, val ? 1.0 : 0.9));
  o.params.doc_tokens = o.seq_len - 1;
  set_range(o.kv_pairs, &o.params.kv_pairs_min, &o.params.kv_pairs_max);
  set_range(o.kv_queries, &o.params.kv_queries_min, &o.params.kv_queries_max);
  set_range(o.passkey_queries, &o.params.passkey_extra_queries_min, &o.params.passkey_extra_queries_max);
  set_range(o.drill_lists, &o.params.drill_lists_min, &o.params.drill_lists_max);
  set_range(o.drill_pairs, &o.params.drill_pairs_min, &o.params.drill_pairs_max);
  set_range(o.drill_queries, &o.params.drill_queries_min, &o.params.drill_queries_max);
  const double t0 = now_seconds();
  MNEMO_ASSIGN_OR_RETURN(auto gen, LongCtxGenerator::create(*tok, std::move(src), o.params));
  std::vector<LongCtxDoc> docs;
  docs.reserve(static_cast<size_t>(o.docs));
  ProgressBar bar("mnemo: gen-longctx");
  int64_t builtin = 0, items = 0;
  for (int64_t i = 0; i < o.docs; ++i) {
    MNEMO_ASSIGN_OR_RETURN(LongCtxDoc d, gen->next());
    builtin += d.builtin_filler ? 1 : 0;
    items += static_cast<int64_t>(d.items.size());
    docs.push_back(std::move(d));
    if (!o.json) bar.update(static_cast<uint64_t>(i + 1), static_cast<uint64_t>(o.docs));
  }
  MNEMO_RETURN_IF_ERROR(write_longctx_text(o.output, docs));
  if (!o.index.empty()) {
    MNEMO_RETURN_IF_ERROR(write_longctx_index(o.index, docs));
  }
  const int64_t tokens = o.docs * (o.seq_len - 1);
  if (o.json) {
    nlohmann::ordered_json j;
    j["output"] = o.output;
    j["documents"] = o.docs;
    j["tokens_per_document"] = o.seq_len - 1;
    j["tokens"] = tokens;
    j["builtin_filler_documents"] = builtin;
    j["items"] = items;
    j["seed"] = o.params.seed;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %lld documents of %lld tokens (%lld tokens; %lld on the built-in filler), %lld items, %.1f s\n",
                o.output.c_str(), static_cast<long long>(o.docs), static_cast<long long>(o.seq_len - 1),
                static_cast<long long>(tokens), static_cast<long long>(builtin), static_cast<long long>(items),
                now_seconds() - t0);
  }
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<GenLongCtxOptions>();
  app.add_option("--stories", o->stories, "Story files (stories separated by empty lines), e.g. tinystories_train_01.txt");
  app.add_option("--play", o->play, "A play (e.g. tinyshakespeare_input.txt): speeches mixed into the filler");
  app.add_option("-z,--tokenizer", o->tokenizer, "Tokenizer of the model to train (tokenizer.bin or GGUF)")->required();
  app.add_option("-o,--output", o->output, "Text file to write (documents separated by empty lines)")->required();
  app.add_option("--index", o->index, "Also write one JSON line per document: its items, lines and token offsets");
  app.add_option("--part", o->part, "train: the first 90% of the play's lines; val: the last 10%")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "val"}));
  app.add_option("--docs", o->docs, "Documents to write")->capture_default_str();
  app.add_option("--seq-len", o->seq_len,
                 "The trainer's seq_len: each document has seq_len - 1 tokens, so with its BOS it fills one row")
      ->capture_default_str();
  app.add_option("--seed", o->params.seed, "Seed of every random choice")->capture_default_str();
  app.add_option("--builtin-filler", o->params.builtin_filler,
                 "Fraction of documents filled with the passkey test's built-in line (\"The grass is green. ...\")")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--play-fraction", o->params.play_fraction, "In the other documents, the fraction of filler from the play")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  const LongCtxParams d;
  auto range = [&](const char* name, std::vector<int>* v, int lo, int hi, const char* what) {
    app.add_option(name, *v, str_printf("%s: MIN,MAX (default %d,%d)", what, lo, hi))
        ->expected(2)
        ->delimiter(',')
        ->check(CLI::NonNegativeNumber);
  };
  range("--kv-pairs", &o->kv_pairs, d.kv_pairs_min, d.kv_pairs_max, "Pairs in the kv list of an ordinary document");
  range("--kv-queries", &o->kv_queries, d.kv_queries_min, d.kv_queries_max, "Questions about them");
  range("--passkey-queries", &o->passkey_queries, d.passkey_extra_queries_min, d.passkey_extra_queries_max,
        "Passkey questions between the needle and the last line");
  app.add_option("--drill", o->params.drill,
                 "Fraction of drill documents: several short kv lists, each asked for within --drill-window filler lines")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  range("--drill-lists", &o->drill_lists, d.drill_lists_min, d.drill_lists_max, "Lists in a drill document");
  range("--drill-pairs", &o->drill_pairs, d.drill_pairs_min, d.drill_pairs_max, "Pairs in each");
  range("--drill-queries", &o->drill_queries, d.drill_queries_min, d.drill_queries_max, "Questions about each");
  app.add_option("--drill-window", o->params.drill_window, "Filler lines between a drill list and its last question, at most")
      ->capture_default_str();
  app.add_flag("--json", o->json, "Print one JSON line {output, documents, tokens, ...}");
  return [o]() -> Status { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("gen-longctx", "Long-context training text: stories with passkeys and key-value recall", setup);

}  // namespace mnemo::cli
