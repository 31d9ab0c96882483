// mnemo/memory.h: the long-term memory service for agents (mem0-shaped API over a durable store).
//
// A MemoryService owns one directory: a SQLite database (the source of truth, WAL with
// synchronous=FULL, so an add returns only after its commit is on disk) and index files derived
// from it (vectors; the SPANN index for large users), which are repaired or rebuilt from the
// database when they are behind or damaged.
//
// Memories are scoped by user_id (required) and optionally agent_id and session_id; a request
// never sees memories of another user. Each memory carries A-MEM note fields (keywords, tags, a
// context line, links to its nearest notes), MemoryBank forgetting state (strength S, last access,
// access count; retention R = exp(-t / (k * S)) with t in days, computed at read time) and a kind
// (fact, event, preference, ...) that partitions it for two-layer retrieval. Every change is
// recorded in a history table.
//
// Retrieval is hybrid: BM25 over stemmed words and similarity of embeddings, fused by reciprocal
// rank. Both channels see a memory together with its conversational neighbours (the memories
// added just before and after it in the same session), weighted down.
//
// Times are milliseconds since the Unix epoch (UTC). Thread-safety: every MemoryService method
// may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::ltm {

// Who a memory belongs to. user_id is required; empty agent_id / session_id mean "any" in
// filters and "none" on a new memory.
struct Scope {
  std::string user_id;
  std::string agent_id;
  std::string session_id;
};

enum class Tier { kHot = 0, kCold = 1, kAll = 2 };

struct MemoryRecord {
  uint64_t id = 0;
  Scope scope;
  std::string text;
  std::string kind;                   // "fact", "event", "preference", ... ([a-z0-9_-]{1,32})
  std::vector<std::string> tags;
  std::vector<std::string> keywords;  // A-MEM note keywords (LLM-filled, else the rarest words)
  std::string context;                // A-MEM one-line context (LLM-filled, else empty)
  std::vector<uint64_t> links;        // ids of linked notes (same user), strongest first
  std::vector<std::string> sources;   // caller ids of the inputs merged into this memory
  std::string metadata_json = "{}";   // a JSON object, opaque to the service
  int64_t event_time_ms = 0;          // when the remembered thing happened (time filters use it)
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  // MemoryBank forgetting state.
  double strength = 1.0;              // S: 1 at creation, +1 per recall
  int64_t last_access_ms = 0;         // the start of t; reset by a recall
  int64_t access_count = 0;
  double retention = 1.0;             // R at the clock of the read that returned this record
  Tier tier = Tier::kHot;
};

struct AddRequest {
  Scope scope;
  std::string text;
  std::string kind;           // empty: the LLM's classification when inferring, else "fact"
  std::vector<std::string> tags;
  std::string metadata_json = "{}";
  int64_t event_time_ms = 0;  // 0: now
  std::string source_id;      // optional caller id (a dialogue turn id), kept in `sources`
  // With an LLM configured: let it fill keywords, tags, context and evolve neighbours (A-MEM).
  bool infer = true;
  // The mem0 message role ("user", "assistant", ...; empty for a plain text). An assistant's
  // message that is only an acknowledgement ("Got it, I'll remember that") is not stored.
  std::string role;
};

enum class AddEvent { kAdd, kUpdate, kNone };  // kUpdate: merged into a near-duplicate
const char* add_event_name(AddEvent e);        // "ADD", "UPDATE", "NONE"

struct AddResult {
  uint64_t id = 0;
  AddEvent event = AddEvent::kAdd;
  std::string text;  // the memory's text after the add
};

struct Filter {
  Scope scope;  // user_id required
  int64_t time_from_ms = std::numeric_limits<int64_t>::min();  // event_time >= from
  int64_t time_to_ms = std::numeric_limits<int64_t>::max();    // event_time <= to
  std::vector<std::string> tags;   // any of these (empty: no condition)
  std::vector<std::string> kinds;  // any of these (empty: no condition)
  Tier tier = Tier::kHot;
};

enum class SearchMode { kHybrid, kBm25, kVector };

struct SearchRequest {
  std::string query;
  Filter filter;
  int k = 10;
  SearchMode mode = SearchMode::kHybrid;
  bool expand_links = false;  // A-MEM: follow links of strong hits
  // A recall: each returned memory that matched the query (its cosine similarity to the query is
  // at least MemoryConfig::recall_min_similarity and `threshold`) gets S += 1, last access = now,
  // access_count += 1. Memories that only filled the list, or came by a link, are not recalled.
  bool touch = true;
  int64_t now_ms = 0;  // the clock for retention and recalls; 0: the system clock
  // mem0's `threshold`: hits whose similarity (cosine of the query and the memory) is below it are
  // not returned. 0: no threshold.
  double threshold = 0;
};

struct SearchHit {
  MemoryRecord memory;
  double score = 0;         // fused score (higher is better)
  double bm25 = 0;          // the channel scores (0 when the channel did not rank it)
  double similarity = 0;
  bool via_link = false;    // added by link expansion
  bool matched = false;     // matched the query (MemoryConfig::recall_min_*): a recall when touching
};

struct HistoryEntry {
  uint64_t seq = 0;
  uint64_t memory_id = 0;
  std::string event;  // ADD, UPDATE, DELETE, EVOLVE, FORGET, RESTORE, MERGE
  std::string old_text;
  std::string new_text;
  std::string detail_json = "{}";
  int64_t at_ms = 0;
};

struct ListRequest {
  Filter filter;
  int limit = 100;
  uint64_t after_id = 0;  // paging: ids greater than this
};

struct UpdateRequest {
  Scope scope;  // must own the memory
  uint64_t id = 0;
  std::string text;                       // empty: unchanged
  std::optional<std::vector<std::string>> tags;  // absent: unchanged
  std::string metadata_json;              // empty: unchanged
};

struct ForgetRequest {
  Scope scope;              // user_id required; agent/session narrow it
  double threshold = 0.1;   // memories with retention R < threshold move to the cold tier
  int64_t now_ms = 0;       // 0: the system clock
  bool dry_run = false;
};

struct ForgetResult {
  int64_t scanned = 0;
  std::vector<uint64_t> moved;  // ids moved to the cold tier
};

struct EmbedderConfig {
  // "hash": built in, no model (hashed word and character n-grams with IDF weights);
  // "http": an OpenAI-compatible /v1/embeddings endpoint;
  // "model": pooled hidden states of a mnemo model (needs the inference core; not yet available).
  std::string kind = "hash";
  int dim = 512;           // hash: output dimension; http: checked against the endpoint's answers
  std::string url;         // http: base URL, e.g. http://127.0.0.1:8080 (POST {url}/v1/embeddings)
  std::string model = "default";  // http: the "model" field; model: the model file
  std::string api_key;     // http: bearer token (optional)
  int timeout_ms = 30000;
};

struct LlmConfig {
  std::string url;      // OpenAI-compatible base URL; empty: no LLM
  std::string model = "default";
  std::string api_key;
  int timeout_ms = 60000;
  double temperature = 0.0;
  bool enabled() const { return !url.empty(); }
};

struct RetrievalConfig {
  double bm25_k1 = 0.9;
  double bm25_b = 0.2;
  // Conversational neighbourhood: a memory is indexed with the memories at distance 1, 2, 3
  // before and after it in the same session, weighted by these factors (empty: off).
  std::vector<double> context_weights = {0.3, 0.15, 0.05};
  double rrf_k = 60;
  double bm25_weight = 1.0;
  double vector_weight = 0.4;
  int channel_depth = 200;  // candidates taken from each channel before fusion (at least k)
  double link_expand_min = 0.5;  // expand links of hits whose fused score >= this * best
  // ANN effort for large users (SPANN posting lists probed, pruning epsilon); 0: the index's default.
  int ann_probes = 0;
  double ann_prune_epsilon = 0;
};

struct MemoryConfig {
  std::string dir;  // created if missing
  EmbedderConfig embedder;
  LlmConfig llm;
  RetrievalConfig retrieval;
  bool link = true;       // A-MEM: link each new memory to its nearest notes
  int link_k = 5;
  bool dedup = true;      // near-duplicate adds update the existing memory
  // Near duplicate: same agent and kind, stem-set Jaccard >= dedup_jaccard, and cosine >=
  // dedup_similarity (a floor only: hashed IDF vectors of a young store are noisy).
  double dedup_similarity = 0.3;
  double dedup_jaccard = 0.8;
  double forget_k_days = 1.0;      // k in R = exp(-t / (k * S)), t in days
  // A search hit counts as a recall (MemoryBank's strength update) only when it matched the query
  // (SearchHit::matched): ranked by a channel (not a filler of the list, not a linked note) and
  // either its cosine similarity to the query is at least recall_min_similarity, or the query's
  // stems found in its own text carry at least recall_min_share of the query's IDF weight (in the
  // user's BM25 index; a word the user never used weighs most). How these were chosen:
  // docs/MEMORY.md, "Forgetting".
  double recall_min_similarity = 0.5;
  double recall_min_share = 0.3;
  // Users with at least this many hot memories are searched through the SPANN index (half as many
  // are mirrored into it ahead of time); smaller users by an exact (SIMD) scan of their own
  // vectors. <= 0: no ANN index. The default keeps users of up to 100k memories exact: with the
  // hash embedder the scan is both faster and exact there (docs/MEMORY.md, filtered search).
  int64_t ann_min_user_memories = 200000;
  // Limits on untrusted input.
  size_t max_text_bytes = 32 * 1024;
  size_t max_metadata_bytes = 16 * 1024;
  size_t max_tags = 32;
  size_t max_scope_bytes = 256;
  int max_k = 1000;
  // SQLite VFS name (tests register a syncing-counting shim); empty: the default.
  std::string sqlite_vfs;
  // Re-embed stale vectors and compact index files in the background (MemoryService::maintain);
  // off for reproducible evaluations, which call maintain() themselves.
  bool background_maintenance = true;
  // Group commit: the writer takes up to this many queued writes into one transaction.
  int max_batch = 256;
};

struct ServiceStats {
  int64_t users = 0;
  int64_t hot_memories = 0;
  int64_t cold_memories = 0;
  int64_t commits = 0;          // transactions committed (group commit: <= writes)
  int64_t writes = 0;
  int64_t vectors_rebuilt_at_open = 0;  // index entries repaired from the database at open
  std::string embedder;
  std::string vector_search;    // "exact" or "exact+spann"
};

class MemoryService {
 public:
  static Expected<std::unique_ptr<MemoryService>> open(const MemoryConfig& config);
  ~MemoryService();
  MemoryService(const MemoryService&) = delete;
  MemoryService& operator=(const MemoryService&) = delete;

  // Returns after the change is durable (committed with the WAL synced).
  Expected<AddResult> add(const AddRequest& req);
  // Several messages, atomically: all are checked before anything is written and all are written
  // in one transaction, or none is. One result per request, in order; a request that was not
  // stored (an assistant's acknowledgement) has id 0 and event NONE.
  Expected<std::vector<AddResult>> add_many(const std::vector<AddRequest>& reqs);
  Expected<std::vector<SearchHit>> search(const SearchRequest& req);
  // kNotFound unless `scope.user_id` owns the memory (and agent/session match when given).
  Expected<MemoryRecord> get(const Scope& scope, uint64_t id);
  Expected<std::vector<MemoryRecord>> list(const ListRequest& req);
  Expected<MemoryRecord> update(const UpdateRequest& req);
  Status remove(const Scope& scope, uint64_t id);
  // Deletes every memory of the scope; returns how many.
  Expected<int64_t> remove_all(const Scope& scope);
  Expected<std::vector<HistoryEntry>> history(const Scope& scope, uint64_t id);
  // MemoryBank: moves memories whose retention fell below the threshold to the cold tier.
  Expected<ForgetResult> forget(const ForgetRequest& req);
  // Brings a cold memory back to the hot tier (a recall: S += 1).
  Expected<MemoryRecord> restore(const Scope& scope, uint64_t id);
  // Re-embeds vectors whose IDF weights are stale (the hash embedder's statistics have doubled
  // since) and compacts index files. A live service runs this in the background.
  Status maintain();
  // Makes index files current (the database is always current).
  Status flush();
  ServiceStats stats() const;
  const MemoryConfig& config() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit MemoryService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// MemoryBank retention R = exp(-t / (k * S)) for t = now - last_access (in days, >= 0).
double retention(double strength, int64_t last_access_ms, int64_t now_ms, double k_days);

// The JSON shapes of the HTTP API (mem0-like; ids as decimal strings), for tools' --json output.
std::string to_json_string(const MemoryRecord& m);
std::string to_json_string(const SearchHit& h);
std::string to_json_string(const HistoryEntry& h);
std::string to_json_string(const AddResult& r);

// ---- HTTP (mem0-shaped JSON under /v1/memories) --------------------------------------------

// The connection layer is one epoll thread plus `threads` handler threads that only see complete
// requests (net/http_loop.h): idle or trickling clients hold no thread.
struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8420;             // 0: pick a free port (see on_listening)
  size_t max_body_bytes = 1 << 20;
  int threads = 8;             // handler threads
  int request_timeout_ms = 10000;  // first byte to last byte of one request (else 408)
  int idle_timeout_ms = 30000;     // a connection without a request in progress is closed after this
  size_t max_connections = 1024;   // open at once (the longest-idle one makes room)
  size_t max_connections_per_address = 256;
  double rate_limit_per_s = 0;     // requests per second per client address (429 beyond); 0: off
  std::function<void(int port)> on_listening;  // called once the socket is bound
};

// Serves the memory API until stop_http() is called on the handle's server (or the process
// ends). Blocks.
class HttpServer {
 public:
  static Expected<std::unique_ptr<HttpServer>> create(MemoryService& service, const HttpOptions& options);
  ~HttpServer();
  int port() const;
  // Blocks until stop() is called from another thread.
  Status run();
  void stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Chat: SCM controller with an Actor-Reasoner fast path -----------------------------------

struct ChatOptions {
  Scope scope;  // user_id required; session_id names the conversation (default "chat")
  LlmConfig llm;                  // required for answers; the controller uses it for decisions too
  int token_budget = 2048;        // context tokens for recent turns + memories
  double recent_share = 0.5;      // at most this share of the budget for recent turns
  int k = 8;                      // memories retrieved per turn
  bool llm_controller = true;     // ask the LLM whether a turn needs memory; else a rule
  bool fast_path = true;          // answer at once from remembered answers (Actor)
  double fast_path_similarity = 0.9;
  bool write_back = true;         // store the user's turn and the answer as memories
};

struct ChatReply {
  std::string answer;              // the LLM's answer (the slow path)
  std::string fast_answer;         // the Actor's remembered answer, when one was close enough
  bool retrieved = false;          // whether the controller decided to retrieve
  std::vector<std::string> partitions;  // kinds searched (two-layer retrieval)
  std::vector<uint64_t> memory_ids;     // memories placed in the context
  int recent_turns_used = 0;
  int summaries_used = 0;          // memories given as their summary (context line) to fit
  int context_tokens = 0;
};

class ChatSession {
 public:
  static Expected<std::unique_ptr<ChatSession>> create(MemoryService& service, const ChatOptions& options);
  ~ChatSession();
  // One turn. on_fast (optional) is called with the Actor's answer as soon as it is known, while
  // the Reasoner (the LLM) is still running.
  Expected<ChatReply> turn(const std::string& user_text,
                           const std::function<void(const std::string&)>& on_fast = {});

  struct Impl;

 private:
  explicit ChatSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Evaluation on LoCoMo ----------------------------------------------------------------------

struct LocomoOptions {
  std::string dir;                 // scratch directory for the service (empty: a temporary one)
  MemoryConfig config;             // dir is replaced; embedder/retrieval settings are used
  std::vector<int> ks = {1, 5, 10, 50};
  bool baseline = true;            // also score plain BM25 (k1 1.2, b 0.75, no stemming)
  LlmConfig answer_llm;            // when enabled: answer each question and judge it
  LlmConfig judge_llm;             // defaults to answer_llm
  int answer_k = 10;
  int max_questions = 0;           // 0: all (for smoke runs)
  std::vector<int> conversations;  // indexes into the file (empty: all)
  std::function<void(const std::string&)> progress;
};

struct RecallRow {
  int category = 0;  // 0: categories 1-4 averaged (mean of the four), -1: questions 1-4 pooled
  int n = 0;
  std::vector<double> recall;  // per k in LocomoOptions::ks
};

struct LocomoSystemResult {
  std::string name;
  std::vector<RecallRow> rows;  // categories 1..5, then the two averages
  double add_p50_ms = 0, add_p95_ms = 0;
  double search_p50_ms = 0, search_p95_ms = 0;
  int answered = 0;
  double judge_accuracy = -1;  // -1: no LLM (categories 1-4)
  // Of the first 10 hits of each question (mnemo only): the share of evidence turns that
  // matched the query (would count as recalls) and the share of the other hits that did.
  // matched_unrelated: the same for the first 10 hits of each question asked of another
  // conversation's user.
  double matched_evidence = -1, matched_other = -1, matched_unrelated = -1;
  // The same rows per conversation (in the order evaluated), for leave-one-out checks.
  std::vector<std::vector<RecallRow>> per_conversation;
};

struct LocomoReport {
  std::string file;
  int conversations = 0;
  int turns = 0;
  int questions = 0;
  std::vector<std::string> conversation_ids;
  std::vector<int> ks;
  std::vector<LocomoSystemResult> systems;  // "mnemo" and (when asked) "bm25"
  std::string to_json() const;
  std::string to_table() const;
};

Expected<LocomoReport> eval_locomo(const std::string& path, const LocomoOptions& options);

}  // namespace mnemo::ltm
