// mnemo memory: the long-term memory service from the command line.
//
//   mnemo memory add|search|get|list|update|delete|history|forget|restore --db DIR --user U ...
//   mnemo memory eval locomo FILE [--json]
//   mnemo memory serve --db DIR [--port N]
//   mnemo memory chat --db DIR --user U --llm-url URL
//
// The memory directory is --db, else $MNEMO_MEMORY_DIR, else ./mnemo-memory.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "command.h"
#include "common_options.h"
#include "mnemo/memory.h"

namespace mnemo::cli {
namespace {

using namespace mnemo::ltm;

struct MemoryOptions {
  std::string db;
  std::string user, agent, session;
  bool json = false;
  // Embedder.
  std::string embedder = "hash";
  int embed_dim = 0;
  std::string embed_url, embed_model = "default", embed_key;
  // LLM.
  std::string llm_url, llm_model = "default", llm_key;
  bool no_link = false, no_dedup = false;
  double forget_k = 1.0;

  // add / update
  std::vector<std::string> text;
  std::string kind;
  std::vector<std::string> tags;
  std::string metadata;
  int64_t time_ms = 0;
  std::string source;
  bool no_infer = false;
  // search / list
  int k = 10;
  std::vector<std::string> kinds;
  int64_t from_ms = std::numeric_limits<int64_t>::min(), to_ms = std::numeric_limits<int64_t>::max();
  std::string tier = "hot";
  std::string mode = "hybrid";
  bool expand_links = false, no_touch = false;
  int64_t now_ms = 0;
  int limit = 100;
  // ids
  std::string id;
  bool all = false;
  // forget
  double threshold = 0.1;
  bool dry_run = false;
  // search
  double min_similarity = 0;
  // eval
  std::string bench, file;
  std::vector<int> ks = {1, 5, 10, 50};
  bool no_baseline = false;
  int max_questions = 0;
  std::string eval_dir;
  std::string judge_url, judge_model;
  // serve
  std::string host = "127.0.0.1";
  int port = 8420;
  int threads = 8;
  size_t max_body = 1 << 20;
  int request_timeout_ms = 10000, idle_timeout_ms = 30000;
  size_t max_connections = 1024;
  double rate_limit = 0;
  // chat
  int budget = 2048;
  bool no_fast_path = false, rule_controller = false;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && v[0] ? std::string(v) : fallback;
}

MemoryConfig make_config(const MemoryOptions& o) {
  MemoryConfig c;
  c.dir = o.db.empty() ? env_or("MNEMO_MEMORY_DIR", "mnemo-memory") : o.db;
  c.embedder.kind = o.embedder;
  if (o.embed_dim > 0) c.embedder.dim = o.embed_dim;
  else if (o.embedder != "hash") c.embedder.dim = 0;
  c.embedder.url = o.embed_url;
  c.embedder.model = o.embed_model;
  c.embedder.api_key = o.embed_key.empty() ? env_or("MNEMO_EMBED_API_KEY", "") : o.embed_key;
  c.llm.url = o.llm_url;
  c.llm.model = o.llm_model;
  c.llm.api_key = o.llm_key.empty() ? env_or("MNEMO_LLM_API_KEY", "") : o.llm_key;
  c.link = !o.no_link;
  c.dedup = !o.no_dedup;
  c.forget_k_days = o.forget_k;
  return c;
}

Scope scope_of(const MemoryOptions& o) { return {o.user, o.agent, o.session}; }

Expected<uint64_t> parse_memory_id(const std::string& s) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v == 0) return usage_error("ID: expected a memory id, got '" + s + "'");
  return static_cast<uint64_t>(v);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

void print_record(const MemoryRecord& m, bool json) {
  if (json) {
    std::printf("%s\n", to_json_string(m).c_str());
    return;
  }
  std::printf("[%llu] %s\n", static_cast<unsigned long long>(m.id), m.text.c_str());
  std::printf("      kind %s%s%s | strength %.0f, retention %.3f, %s\n", m.kind.c_str(), m.tags.empty() ? "" : " | tags ",
              join(m.tags, ",").c_str(), m.strength, m.retention, m.tier == Tier::kCold ? "cold" : "hot");
}

Status run_add(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  AddRequest a;
  a.scope = scope_of(o);
  a.text = join(o.text, " ");
  a.kind = o.kind;
  a.tags = o.tags;
  if (!o.metadata.empty()) a.metadata_json = o.metadata;
  a.event_time_ms = o.time_ms;
  a.source_id = o.source;
  a.infer = !o.no_infer;
  MNEMO_ASSIGN_OR_RETURN(AddResult r, svc->add(a));
  if (o.json) std::printf("%s\n", to_json_string(r).c_str());
  else std::printf("%s %llu: %s\n", add_event_name(r.event), static_cast<unsigned long long>(r.id), r.text.c_str());
  return Status::ok();
}

Filter filter_of(const MemoryOptions& o) {
  Filter f;
  f.scope = scope_of(o);
  f.kinds = o.kinds;
  f.tags = o.tags;
  f.time_from_ms = o.from_ms;
  f.time_to_ms = o.to_ms;
  f.tier = o.tier == "cold" ? Tier::kCold : o.tier == "all" ? Tier::kAll : Tier::kHot;
  return f;
}

Status run_search(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  SearchRequest s;
  s.query = join(o.text, " ");
  s.filter = filter_of(o);
  s.k = o.k;
  s.mode = o.mode == "bm25" ? SearchMode::kBm25 : o.mode == "vector" ? SearchMode::kVector : SearchMode::kHybrid;
  s.expand_links = o.expand_links;
  s.touch = !o.no_touch;
  s.now_ms = o.now_ms;
  s.threshold = o.min_similarity;
  MNEMO_ASSIGN_OR_RETURN(auto hits, svc->search(s));
  if (o.json) {
    std::printf("{\"results\": [");
    for (size_t i = 0; i < hits.size(); ++i) std::printf("%s%s", i ? ", " : "", to_json_string(hits[i]).c_str());
    std::printf("]}\n");
    return Status::ok();
  }
  for (const auto& h : hits) {
    std::printf("%.4f%s ", h.score, h.via_link ? " (link)" : "");
    print_record(h.memory, false);
  }
  return Status::ok();
}

Status run_get(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_memory_id(o.id));
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  MNEMO_ASSIGN_OR_RETURN(MemoryRecord m, svc->get(scope_of(o), id));
  print_record(m, o.json);
  return Status::ok();
}

Status run_list(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  ListRequest l;
  l.filter = filter_of(o);
  l.limit = o.limit;
  MNEMO_ASSIGN_OR_RETURN(auto recs, svc->list(l));
  if (o.json) {
    std::printf("{\"results\": [");
    for (size_t i = 0; i < recs.size(); ++i) std::printf("%s%s", i ? ", " : "", to_json_string(recs[i]).c_str());
    std::printf("]}\n");
  } else {
    for (const auto& m : recs) print_record(m, false);
  }
  return Status::ok();
}

Status run_update(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_memory_id(o.id));
  if (o.text.empty() && o.tags.empty() && o.metadata.empty())
    return usage_error("update: expected --text, --tag or --metadata");
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  UpdateRequest u;
  u.scope = scope_of(o);
  u.id = id;
  u.text = join(o.text, " ");
  if (!o.tags.empty()) u.tags = o.tags;
  u.metadata_json = o.metadata;
  MNEMO_ASSIGN_OR_RETURN(MemoryRecord m, svc->update(u));
  print_record(m, o.json);
  return Status::ok();
}

Status run_delete(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  if (o.all) {
    if (!o.id.empty()) return usage_error("delete: give an ID or --all, not both");
    MNEMO_ASSIGN_OR_RETURN(int64_t n, svc->remove_all(scope_of(o)));
    if (o.json) std::printf("{\"deleted\": %lld}\n", static_cast<long long>(n));
    else std::printf("deleted %lld memories\n", static_cast<long long>(n));
    return Status::ok();
  }
  if (o.id.empty()) return usage_error("delete: expected an ID or --all");
  MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_memory_id(o.id));
  MNEMO_RETURN_IF_ERROR(svc->remove(scope_of(o), id));
  if (o.json) std::printf("{\"deleted\": 1, \"id\": \"%llu\"}\n", static_cast<unsigned long long>(id));
  else std::printf("deleted %llu\n", static_cast<unsigned long long>(id));
  return Status::ok();
}

Status run_history(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_memory_id(o.id));
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  MNEMO_ASSIGN_OR_RETURN(auto entries, svc->history(scope_of(o), id));
  if (o.json) {
    std::printf("{\"results\": [");
    for (size_t i = 0; i < entries.size(); ++i) std::printf("%s%s", i ? ", " : "", to_json_string(entries[i]).c_str());
    std::printf("]}\n");
    return Status::ok();
  }
  for (const auto& h : entries) {
    std::printf("#%llu %-8s %s%s%s\n", static_cast<unsigned long long>(h.seq), h.event.c_str(), h.old_text.c_str(),
                h.old_text.empty() || h.new_text.empty() || h.old_text == h.new_text ? "" : " -> ",
                h.old_text == h.new_text ? "" : h.new_text.c_str());
  }
  return Status::ok();
}

Status run_forget(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  ForgetRequest f;
  f.scope = scope_of(o);
  f.threshold = o.threshold;
  f.now_ms = o.now_ms;
  f.dry_run = o.dry_run;
  MNEMO_ASSIGN_OR_RETURN(ForgetResult r, svc->forget(f));
  if (o.json) {
    nlohmann::json moved = nlohmann::json::array();
    for (uint64_t id : r.moved) moved.push_back(std::to_string(id));
    std::printf("%s\n", nlohmann::json({{"scanned", r.scanned}, {"moved", moved}, {"dry_run", o.dry_run}}).dump().c_str());
  } else {
    std::printf("%s %zu of %lld memories to the cold tier (retention < %g)\n", o.dry_run ? "would move" : "moved",
                r.moved.size(), static_cast<long long>(r.scanned), o.threshold);
  }
  return Status::ok();
}

Status run_restore(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_memory_id(o.id));
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  MNEMO_ASSIGN_OR_RETURN(MemoryRecord m, svc->restore(scope_of(o), id));
  print_record(m, o.json);
  return Status::ok();
}

Status run_eval(const MemoryOptions& o) {
  if (o.bench != "locomo") return usage_error("eval: expected the benchmark 'locomo', got '" + o.bench + "'");
  LocomoOptions e;
  e.dir = o.eval_dir;
  e.config = make_config(o);
  e.config.llm = LlmConfig{};
  e.ks = o.ks;
  e.baseline = !o.no_baseline;
  e.max_questions = o.max_questions;
  if (!o.llm_url.empty()) {
    e.answer_llm.url = o.llm_url;
    e.answer_llm.model = o.llm_model;
    e.answer_llm.api_key = make_config(o).llm.api_key;
    if (!o.judge_url.empty()) {
      e.judge_llm = e.answer_llm;
      e.judge_llm.url = o.judge_url;
      if (!o.judge_model.empty()) e.judge_llm.model = o.judge_model;
    }
  }
  e.progress = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  MNEMO_ASSIGN_OR_RETURN(LocomoReport r, eval_locomo(o.file, e));
  std::printf("%s", o.json ? (r.to_json() + "\n").c_str() : r.to_table().c_str());
  return Status::ok();
}

Status run_serve(const MemoryOptions& o) {
  // SIGINT / SIGTERM stop the server cleanly (pending writes are committed, files synced).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  HttpOptions h;
  h.host = o.host;
  h.port = o.port;
  h.threads = o.threads;
  h.max_body_bytes = o.max_body;
  h.request_timeout_ms = o.request_timeout_ms;
  h.idle_timeout_ms = o.idle_timeout_ms;
  h.max_connections = o.max_connections;
  h.rate_limit_per_s = o.rate_limit;
  MNEMO_ASSIGN_OR_RETURN(auto server, HttpServer::create(*svc, h));
  std::fprintf(stderr, "mnemo memory: serving %s on http://%s:%d/v1/memories\n", svc->config().dir.c_str(),
               o.host.c_str(), server->port());
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    server->stop();
  });
  Status s = server->run();
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return s;
}

Status run_chat(const MemoryOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(make_config(o)));
  ChatOptions c;
  c.scope = scope_of(o);
  c.llm = make_config(o).llm;
  c.token_budget = o.budget;
  c.k = o.k;
  c.fast_path = !o.no_fast_path;
  c.llm_controller = !o.rule_controller;
  MNEMO_ASSIGN_OR_RETURN(auto chat, ChatSession::create(*svc, c));
  std::string line;
  std::fprintf(stderr, "mnemo memory chat: one message per line; end with Ctrl-D\n");
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    auto r = chat->turn(line, [&](const std::string& fast) {
      if (o.json) std::printf("%s\n", nlohmann::json({{"fast_answer", fast}}).dump().c_str());
      else std::printf("[from memory] %s\n", fast.c_str());
      std::fflush(stdout);
    });
    if (!r) return r.status();
    if (o.json) {
      std::printf("%s\n", nlohmann::json({{"answer", r->answer},
                                          {"retrieved", r->retrieved},
                                          {"partitions", r->partitions},
                                          {"memory_ids", r->memory_ids},
                                          {"recent_turns", r->recent_turns_used},
                                          {"summaries", r->summaries_used},
                                          {"context_tokens", r->context_tokens}})
                              .dump()
                              .c_str());
    } else {
      std::printf("%s\n", r->answer.c_str());
    }
    std::fflush(stdout);
  }
  return Status::ok();
}

void add_store_options(CLI::App& app, MemoryOptions& o, bool scope = true) {
  app.add_option("--db", o.db, "Memory directory (default: $MNEMO_MEMORY_DIR or ./mnemo-memory)");
  if (scope) {
    app.add_option("-u,--user", o.user, "user_id (required)");
    app.add_option("--agent", o.agent, "agent_id");
    app.add_option("--session", o.session, "session_id");
  }
  app.add_flag("--json", o.json, "Machine-readable output");
  app.add_option("--embedder", o.embedder, "Embedder: hash (built in), http (OpenAI-compatible), model")
      ->default_val("hash")
      ->check(CLI::IsMember({"hash", "http", "model"}));
  app.add_option("--embed-dim", o.embed_dim, "Embedding dimension (hash: default 512; http: checked)");
  app.add_option("--embed-url", o.embed_url, "Base URL of an OpenAI-compatible /v1/embeddings endpoint");
  app.add_option("--embed-model", o.embed_model, "Model name sent to the embeddings endpoint")->default_val("default");
  app.add_option("--embed-key", o.embed_key, "API key of the embeddings endpoint (or $MNEMO_EMBED_API_KEY)");
  app.add_option("--llm-url", o.llm_url, "Base URL of an OpenAI-compatible chat endpoint (notes, chat, judge)");
  app.add_option("--llm-model", o.llm_model, "Model name sent to the LLM endpoint")->default_val("default");
  app.add_option("--llm-key", o.llm_key, "API key of the LLM endpoint (or $MNEMO_LLM_API_KEY)");
  app.add_flag("--no-link", o.no_link, "Do not link new memories to their neighbours");
  app.add_flag("--no-dedup", o.no_dedup, "Store near-duplicates as new memories");
  app.add_option("--forget-k", o.forget_k, "Forgetting time scale k in days: R = exp(-t / (k S))")->default_val(1.0);
}

void add_filter_options(CLI::App& app, MemoryOptions& o) {
  app.add_option("--kind", o.kinds, "Only these kinds (repeatable)");
  app.add_option("--tag", o.tags, "Only memories with any of these tags (repeatable)");
  app.add_option("--from", o.from_ms, "Event time from (ms since the epoch)");
  app.add_option("--to", o.to_ms, "Event time to (ms since the epoch)");
  app.add_option("--tier", o.tier, "hot, cold or all")->default_val("hot")->check(CLI::IsMember({"hot", "cold", "all"}));
}

RunFn setup_memory(CLI::App& app) {
  auto o = std::make_shared<MemoryOptions>();
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, std::function<Status(const MemoryOptions&)>>> subs;

  CLI::App* add = app.add_subcommand("add", "Add a memory (acknowledged once durable)");
  add_store_options(*add, *o);
  add->add_option("text", o->text, "The memory's text")->required();
  add->add_option("--kind", o->kind, "Kind: fact, event, preference, ... (default: by the LLM, else fact)");
  add->add_option("--tag", o->tags, "Tag (repeatable)");
  add->add_option("--metadata", o->metadata, "A JSON object stored with the memory");
  add->add_option("--time", o->time_ms, "Event time in ms since the epoch (default: now)");
  add->add_option("--source", o->source, "Caller id of the input (kept in sources)");
  add->add_flag("--no-infer", o->no_infer, "Do not ask the LLM for keywords, tags, context or evolution");
  subs.emplace_back(add, run_add);

  CLI::App* search = app.add_subcommand("search", "Hybrid search (BM25 + vectors, fused by rank) of a user's memories");
  add_store_options(*search, *o);
  search->add_option("query", o->text, "The query")->required();
  search->add_option("-k,--top-k", o->k, "Results")->default_val(10);
  add_filter_options(*search, *o);
  search->add_option("--mode", o->mode, "hybrid, bm25 or vector")->default_val("hybrid")
      ->check(CLI::IsMember({"hybrid", "bm25", "vector"}));
  search->add_flag("--expand-links", o->expand_links, "Also return notes linked to strong hits");
  search->add_flag("--no-touch", o->no_touch, "Do not count the search as a recall");
  search->add_option("--threshold", o->min_similarity,
                     "Leave out hits whose similarity to the query is below this (mem0's threshold; 0..1)")
      ->default_val(0);
  search->add_option("--now", o->now_ms, "Clock for retention and recalls (ms since the epoch)");
  subs.emplace_back(search, run_search);

  CLI::App* get = app.add_subcommand("get", "Show one memory");
  add_store_options(*get, *o);
  get->add_option("id", o->id, "Memory id")->required();
  subs.emplace_back(get, run_get);

  CLI::App* list = app.add_subcommand("list", "List a user's memories");
  add_store_options(*list, *o);
  add_filter_options(*list, *o);
  list->add_option("--limit", o->limit, "At most this many")->default_val(100);
  subs.emplace_back(list, run_list);

  CLI::App* update = app.add_subcommand("update", "Change a memory's text, tags or metadata");
  add_store_options(*update, *o);
  update->add_option("id", o->id, "Memory id")->required();
  update->add_option("--text", o->text, "New text");
  update->add_option("--tag", o->tags, "New tags (replace the old ones; repeatable)");
  update->add_option("--metadata", o->metadata, "New metadata (a JSON object)");
  subs.emplace_back(update, run_update);

  CLI::App* del = app.add_subcommand("delete", "Delete a memory (or --all of the scope)");
  add_store_options(*del, *o);
  del->add_option("id", o->id, "Memory id");
  del->add_flag("--all", o->all, "Every memory of the user (narrowed by --agent / --session)");
  subs.emplace_back(del, run_delete);

  CLI::App* hist = app.add_subcommand("history", "Every change of a memory");
  add_store_options(*hist, *o);
  hist->add_option("id", o->id, "Memory id")->required();
  subs.emplace_back(hist, run_history);

  CLI::App* forget = app.add_subcommand("forget", "Move memories whose retention fell below a threshold to the cold tier");
  add_store_options(*forget, *o);
  forget->add_option("--threshold", o->threshold, "Retention threshold")->default_val(0.1);
  forget->add_option("--now", o->now_ms, "Clock (ms since the epoch; default now)");
  forget->add_flag("--dry-run", o->dry_run, "Only report what would move");
  subs.emplace_back(forget, run_forget);

  CLI::App* restore = app.add_subcommand("restore", "Bring a cold memory back to the hot tier");
  add_store_options(*restore, *o);
  restore->add_option("id", o->id, "Memory id")->required();
  subs.emplace_back(restore, run_restore);

  CLI::App* eval = app.add_subcommand("eval", "Evidence recall@k on LoCoMo, beside plain BM25");
  add_store_options(*eval, *o, false);
  eval->add_option("benchmark", o->bench, "locomo")->required();
  eval->add_option("file", o->file, "LoCoMo JSON (e.g. locomo10.json)")->required()->check(CLI::ExistingFile);
  eval->add_option("--k", o->ks, "Cut-offs")->default_val(std::vector<int>{1, 5, 10, 50})->delimiter(',');
  eval->add_flag("--no-baseline", o->no_baseline, "Skip the BM25 baseline");
  eval->add_option("--max-questions", o->max_questions, "Stop after this many questions (0: all)")->default_val(0);
  eval->add_option("--dir", o->eval_dir, "Scratch memory directory (default: a temporary one)");
  eval->add_option("--judge-url", o->judge_url, "Judge endpoint (default: --llm-url)");
  eval->add_option("--judge-model", o->judge_model, "Judge model");
  subs.emplace_back(eval, run_eval);

  CLI::App* serve = app.add_subcommand("serve", "Serve the memory API over HTTP (/v1/memories...)");
  add_store_options(*serve, *o, false);
  add_listen_options(*serve, o->host, o->port, 8420);
  serve->add_option("--threads", o->threads, "Handler threads (connections are held by one event loop)")
      ->default_val(8);
  serve->add_option("--max-body", o->max_body, "Largest request body in bytes")->default_val(1 << 20);
  serve->add_option("--request-timeout", o->request_timeout_ms,
                    "Milliseconds from a request's first byte to its last (else 408)")
      ->default_val(10000);
  serve->add_option("--idle-timeout", o->idle_timeout_ms, "Milliseconds an idle connection is kept")
      ->default_val(30000);
  serve->add_option("--max-connections", o->max_connections, "Open connections at once")->default_val(1024);
  serve->add_option("--rate-limit", o->rate_limit, "Requests per second per client address (0: no limit)")
      ->default_val(0);
  subs.emplace_back(serve, run_serve);

  CLI::App* chat = app.add_subcommand("chat", "Chat with memory (SCM controller, Actor fast path); lines on stdin");
  add_store_options(*chat, *o);
  chat->add_option("--budget", o->budget, "Context tokens for recent turns and memories")->default_val(2048);
  chat->add_option("-k,--top-k", o->k, "Memories retrieved per turn")->default_val(8);
  chat->add_flag("--no-fast-path", o->no_fast_path, "Do not answer from remembered answers");
  chat->add_flag("--rule-controller", o->rule_controller, "Decide retrieval by rule, not by the LLM");
  subs.emplace_back(chat, run_chat);

  return [o, subs]() -> Status {
    for (const auto& [sub, fn] : subs) {
      if (sub->parsed()) {
        if (o->user.empty() && sub->get_option_no_throw("--user") != nullptr)
          return usage_error("--user: required");
        return fn(*o);
      }
    }
    return usage_error("memory: expected a subcommand");
  };
}

}  // namespace

MNEMO_COMMAND("memory", "Long-term memory for agents: add, search, forget, serve, chat, eval", setup_memory);

}  // namespace mnemo::cli
