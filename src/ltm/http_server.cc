// The memory API over HTTP, mem0-shaped JSON under /v1/memories. Connections are net/http_loop.h's
// (one epoll thread; handler threads see only complete requests); this file is the routes.
//
//   POST   /v1/memories                 add: {"messages": [{"role","content"}...] | "text": "...",
//                                        "user_id", "agent_id", "session_id" (or "run_id"), "kind",
//                                        "tags", "metadata", "event_time_ms", "source_id", "infer"}
//                                        -> {"results": [{"id","memory","event"}]}
//   GET    /v1/memories?user_id=..      list (agent_id, session_id, kind, tag, from_ms, to_ms,
//                                        tier, limit, after) -> {"results": [memory...]}
//   POST   /v1/memories/search          {"query", "user_id", "agent_id", "session_id", "filters":
//                                        {"kind"|"kinds", "tags", "time_from_ms", "time_to_ms",
//                                        "tier"}, "top_k", "mode", "expand_links", "touch",
//                                        "now_ms"} -> {"results": [memory + "score"...]}
//   GET    /v1/memories/{id}?user_id=   one memory
//   PUT    /v1/memories/{id}            {"user_id", "text"|"memory", "tags", "metadata"}
//   DELETE /v1/memories/{id}?user_id=   {"message": ...}
//   DELETE /v1/memories?user_id=..      delete every memory of the scope -> {"deleted": n}
//   GET    /v1/memories/{id}/history?user_id=   {"results": [history...]}
//   POST   /v1/memories/forget          {"user_id", "threshold", "now_ms", "dry_run"}
//   POST   /v1/memories/{id}/restore    {"user_id"}
//   GET    /v1/health, GET /v1/memories/stats
//
// Errors, every route and the connection layer alike: {"error": {"code": "<stable code>",
// "message": "..."}}; the codes and their statuses are error_code() below and the table in
// docs/MEMORY.md. Unknown fields are rejected (400), so a misspelt scope never widens a request.
// Bodies must be JSON (a Content-Type other than application/json or +json gets 415) and are
// decoded by ltm/http_codec.h (fuzzed: fuzz/ltm_http_fuzz.cc).
#include <set>

#include "base/strings.h"
#include "ltm/http_codec.h"
#include "net/http_loop.h"
#include "ltm/json_codec.h"
#include "mnemo/memory.h"

namespace mnemo::ltm {
namespace {

using json = nlohmann::json;
namespace http = ::mnemo::net;
using http::Response;

// The HTTP status and stable error code of a service error.
std::pair<int, const char*> error_code(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return {200, "ok"};
    case StatusCode::kInvalidArgument: return {400, "invalid_argument"};
    case StatusCode::kUnsupported: return {400, "unsupported"};
    case StatusCode::kNotFound: return {404, "not_found"};
    case StatusCode::kOutOfRange: return {413, "payload_too_large"};
    case StatusCode::kCorrupt: return {500, "data_corrupt"};
    case StatusCode::kInternal: return {500, "internal"};
    case StatusCode::kIoError: return {503, "unavailable"};
    case StatusCode::kResourceExhausted: return {507, "insufficient_storage"};
  }
  return {500, "internal"};
}

Response status_response(const Status& s) {
  auto [status, code] = error_code(s.code());
  return http::error_response(status, code, s.message());
}

Response json_response(const json& j) {
  Response r;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// One request as the routes see it: decoded query parameters and the path's {id}.
struct Call {
  const http::Request& req;
  std::vector<std::pair<std::string, std::string>> params;
  std::string id;  // the {id} path segment, when the route has one

  bool has_param(const std::string& k) const {
    for (const auto& [key, v] : params)
      if (key == k) return true;
    return false;
  }
  std::string param(const std::string& k) const {
    for (const auto& [key, v] : params)
      if (key == k) return v;
    return "";
  }
  std::vector<std::string> params_named(const std::string& k) const {
    std::vector<std::string> out;
    for (const auto& [key, v] : params)
      if (key == k) out.push_back(v);
    return out;
  }
  const std::string& body() const { return req.body; }
};

Status check_params(const Call& c, const std::set<std::string>& allowed) {
  for (const auto& [k, v] : c.params)
    if (!allowed.count(k)) return invalid_argument("query: unknown parameter " + quote_bytes(k));
  return Status::ok();
}

Expected<Scope> param_scope(const Call& c) {
  Scope s;
  s.user_id = c.param("user_id");
  s.agent_id = c.param("agent_id");
  s.session_id = c.has_param("session_id") ? c.param("session_id") : c.param("run_id");
  if (s.user_id.empty()) return invalid_argument("query: user_id is required");
  return s;
}

Expected<int64_t> param_int(const Call& c, const char* key, int64_t def) {
  if (!c.has_param(key)) return def;
  int64_t v;
  if (!parse_int64(c.param(key), &v)) return invalid_argument(std::string("query: ") + key + ": expected an integer");
  return v;
}

// Bodies are JSON. A missing Content-Type is accepted (some clients omit it); another media type,
// form encoding above all (curl -d sends it), is refused clearly instead of failing as bad JSON.
Status check_content_type(const http::Request& req) {
  std::string_view ct = req.header("content-type");
  if (ct.data() == nullptr || ct.empty()) return Status::ok();
  std::string media(ct.substr(0, ct.find(';')));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  for (char& ch : media)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  const bool is_json = media == "application/json" || (media.size() > 5 && media.substr(media.size() - 5) == "+json");
  if (is_json) return Status::ok();
  return Status(StatusCode::kUnsupported, "request body: expected Content-Type application/json, got " +
                                              quote_bytes(std::string(ct.substr(0, 100))));
}

class Routes {
 public:
  Routes(MemoryService& svc, const HttpOptions& opt) : svc_(svc), opt_(opt) {
    add("GET", "/v1/health", [](const Call&) -> Expected<json> { return json{{"status", "ok"}}; });
    add("GET", "/v1/memories/stats", [this](const Call& c) { return stats(c); });
    add("POST", "/v1/memories/search", [this](const Call& c) { return search(c); });
    add("POST", "/v1/memories/forget", [this](const Call& c) { return forget(c); });
    add("POST", "/v1/memories/{id}/restore", [this](const Call& c) { return restore(c); });
    add("GET", "/v1/memories/{id}/history", [this](const Call& c) { return history(c); });
    add("POST", "/v1/memories", [this](const Call& c) { return add_memories(c); });
    add("GET", "/v1/memories", [this](const Call& c) { return list(c); });
    add("DELETE", "/v1/memories", [this](const Call& c) { return remove_all(c); });
    add("GET", "/v1/memories/{id}", [this](const Call& c) { return get(c); });
    add("PUT", "/v1/memories/{id}", [this](const Call& c) { return update(c); });
    add("DELETE", "/v1/memories/{id}", [this](const Call& c) { return remove(c); });
  }

  // Runs on a handler thread (concurrently).
  Response handle(const http::Request& req) {
    std::vector<std::string> segs;
    if (!split_path(req.path, &segs))
      return http::error_response(400, "invalid_request", "path: expected %XX escapes, got " + quote_bytes(req.path));
    std::string allow;
    for (const Route& r : routes_) {
      std::string id;
      if (!match(r.segs, segs, &id)) continue;
      if (r.method != req.method) {
        allow += (allow.empty() ? "" : ", ") + r.method;
        continue;
      }
      return run(r, req, std::move(id));
    }
    if (!allow.empty()) {
      Response res = http::error_response(405, "method_not_allowed",
                                          req.method + " " + req.path + ": method not allowed (allowed: " + allow + ")");
      res.headers.emplace_back("Allow", allow);
      return res;
    }
    return http::error_response(404, "not_found", quote_bytes(req.path) + ": no such endpoint");
  }

 private:
  using Fn = std::function<Expected<json>(const Call&)>;
  struct Route {
    std::string method;
    std::vector<std::string> segs;  // "{id}" matches one segment
    Fn fn;
  };

  void add(const char* method, const char* pattern, Fn fn) {
    Route r;
    r.method = method;
    (void)split_path(pattern, &r.segs);
    r.fn = std::move(fn);
    routes_.push_back(std::move(r));
  }

  static bool split_path(std::string_view path, std::vector<std::string>* out) {
    out->clear();
    size_t start = 1;  // paths start with '/'
    while (start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string_view::npos) end = path.size();
      std::string seg;
      if (!http::percent_decode(path.substr(start, end - start), false, &seg)) return false;
      out->push_back(std::move(seg));
      start = end + 1;
    }
    return true;
  }

  static bool match(const std::vector<std::string>& pattern, const std::vector<std::string>& segs, std::string* id) {
    if (pattern.size() != segs.size()) return false;
    for (size_t i = 0; i < segs.size(); ++i) {
      if (pattern[i] == "{id}") {
        if (segs[i].empty()) return false;
        *id = segs[i];
      } else if (pattern[i] != segs[i]) {
        return false;
      }
    }
    return true;
  }

  static Response run(const Route& r, const http::Request& req, std::string id) {
    if (req.method == "POST" || req.method == "PUT") {
      if (Status ct = check_content_type(req); !ct.is_ok())
        return http::error_response(415, "unsupported_media_type", ct.message());
    }
    auto params = http::parse_query(req.query);
    if (!params) return status_response(params.status());
    Call call{req, std::move(*params), std::move(id)};
    Expected<json> out = invalid_argument("request: not handled");
    try {
      out = r.fn(call);
    } catch (const json::exception& e) {
      out = invalid_argument(std::string("request body: ") + e.what());
    } catch (const std::exception& e) {
      out = internal_error(std::string("server: ") + e.what());
    }
    if (!out) return status_response(out.status());
    return json_response(*out);
  }

  Expected<json> stats(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {}));
    ServiceStats st = svc_.stats();
    return json{{"users", st.users},         {"hot_memories", st.hot_memories}, {"cold_memories", st.cold_memories},
                {"commits", st.commits},     {"writes", st.writes},             {"embedder", st.embedder},
                {"vector_search", st.vector_search}};
  }

  Expected<json> add_memories(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {}));
    MNEMO_ASSIGN_OR_RETURN(std::vector<AddRequest> adds, decode_add(c.body()));
    // All messages or none (MemoryService::add_many); an acknowledgement not stored has no result.
    MNEMO_ASSIGN_OR_RETURN(std::vector<AddResult> stored, svc_.add_many(adds));
    json results = json::array();
    for (const AddResult& r : stored)
      if (r.id != 0) results.push_back(to_json(r));
    return json{{"results", results}};
  }

  Expected<json> search(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {}));
    MNEMO_ASSIGN_OR_RETURN(SearchRequest s, decode_search(c.body()));
    MNEMO_ASSIGN_OR_RETURN(auto hits, svc_.search(s));
    json results = json::array();
    for (const auto& h : hits) results.push_back(to_json(h));
    return json{{"results", results}};
  }

  Expected<json> list(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {"user_id", "agent_id", "session_id", "run_id", "kind", "tag", "from_ms",
                                           "to_ms", "tier", "limit", "after"}));
    ListRequest l;
    MNEMO_ASSIGN_OR_RETURN(l.filter.scope, param_scope(c));
    l.filter.kinds = c.params_named("kind");
    l.filter.tags = c.params_named("tag");
    MNEMO_ASSIGN_OR_RETURN(l.filter.time_from_ms, param_int(c, "from_ms", std::numeric_limits<int64_t>::min()));
    MNEMO_ASSIGN_OR_RETURN(l.filter.time_to_ms, param_int(c, "to_ms", std::numeric_limits<int64_t>::max()));
    if (c.has_param("tier")) {
      MNEMO_ASSIGN_OR_RETURN(l.filter.tier, parse_tier(c.param("tier"), "query: tier"));
    }
    MNEMO_ASSIGN_OR_RETURN(int64_t limit, param_int(c, "limit", 100));
    if (limit < 1 || limit > 10000) return invalid_argument("query: limit: expected 1..10000");
    l.limit = static_cast<int>(limit);
    MNEMO_ASSIGN_OR_RETURN(int64_t after, param_int(c, "after", 0));
    l.after_id = after < 0 ? 0 : static_cast<uint64_t>(after);
    MNEMO_ASSIGN_OR_RETURN(auto recs, svc_.list(l));
    json results = json::array();
    for (const auto& r : recs) results.push_back(to_json(r));
    return json{{"results", results}};
  }

  Expected<json> get(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {"user_id", "agent_id", "session_id", "run_id"}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(c.id, "path"));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, param_scope(c));
    MNEMO_ASSIGN_OR_RETURN(MemoryRecord r, svc_.get(scope, id));
    return to_json(r);
  }

  Expected<json> update(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(c.id, "path"));
    MNEMO_ASSIGN_OR_RETURN(UpdateRequest u, decode_update(c.body(), id));
    MNEMO_ASSIGN_OR_RETURN(MemoryRecord r, svc_.update(u));
    return to_json(r);
  }

  Expected<json> remove(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {"user_id", "agent_id", "session_id", "run_id"}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(c.id, "path"));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, param_scope(c));
    MNEMO_RETURN_IF_ERROR(svc_.remove(scope, id));
    return json{{"message", "Memory deleted successfully"}, {"id", std::to_string(id)}};
  }

  Expected<json> remove_all(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {"user_id", "agent_id", "session_id", "run_id"}));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, param_scope(c));
    MNEMO_ASSIGN_OR_RETURN(int64_t n, svc_.remove_all(scope));
    return json{{"message", "Memories deleted successfully"}, {"deleted", n}};
  }

  Expected<json> history(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {"user_id", "agent_id", "session_id", "run_id"}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(c.id, "path"));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, param_scope(c));
    MNEMO_ASSIGN_OR_RETURN(auto entries, svc_.history(scope, id));
    json results = json::array();
    for (const auto& h : entries) results.push_back(to_json(h));
    return json{{"results", results}};
  }

  Expected<json> forget(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {}));
    MNEMO_ASSIGN_OR_RETURN(ForgetRequest f, decode_forget(c.body()));
    MNEMO_ASSIGN_OR_RETURN(ForgetResult r, svc_.forget(f));
    json moved = json::array();
    for (uint64_t id : r.moved) moved.push_back(std::to_string(id));
    return json{{"scanned", r.scanned}, {"moved", moved}, {"dry_run", f.dry_run}};
  }

  Expected<json> restore(const Call& c) {
    MNEMO_RETURN_IF_ERROR(check_params(c, {}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(c.id, "path"));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, decode_restore(c.body()));
    MNEMO_ASSIGN_OR_RETURN(MemoryRecord r, svc_.restore(scope, id));
    return to_json(r);
  }

  MemoryService& svc_;
  HttpOptions opt_;
  std::vector<Route> routes_;
};

}  // namespace

struct HttpServer::Impl {
  std::unique_ptr<Routes> routes;
  std::unique_ptr<http::Loop> loop;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() {
  if (impl_ && impl_->loop) impl_->loop->stop();
}

Expected<std::unique_ptr<HttpServer>> HttpServer::create(MemoryService& service, const HttpOptions& options) {
  if (options.threads < 1 || options.threads > 256) return invalid_argument("--threads: expected 1..256");
  if (options.port < 0 || options.port > 65535) return invalid_argument("--port: expected 0..65535");
  if (options.request_timeout_ms < 1 || options.idle_timeout_ms < 1)
    return invalid_argument("--request-timeout/--idle-timeout: expected at least 1 ms");
  if (options.max_connections < 1 || options.max_connections_per_address < 1)
    return invalid_argument("--max-connections: expected at least 1");
  if (!(options.rate_limit_per_s >= 0)) return invalid_argument("--rate-limit: expected a rate >= 0");
  auto impl = std::make_unique<Impl>();
  impl->routes = std::make_unique<Routes>(service, options);
  http::LoopOptions lo;
  lo.threads = options.threads;
  lo.limits.max_body_bytes = options.max_body_bytes;
  lo.request_timeout_ms = options.request_timeout_ms;
  lo.idle_timeout_ms = options.idle_timeout_ms;
  lo.max_connections = options.max_connections;
  lo.max_connections_per_address = options.max_connections_per_address;
  lo.rate_per_address = options.rate_limit_per_s;
  Routes* routes = impl->routes.get();
  MNEMO_ASSIGN_OR_RETURN(impl->loop, http::Loop::bind(options.host, options.port, lo,
                                                      [routes](const http::Request& r) { return routes->handle(r); }));
  if (options.on_listening) options.on_listening(impl->loop->port());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->loop->port(); }

Status HttpServer::run() { return impl_->loop->run(); }

void HttpServer::stop() { impl_->loop->stop(); }

}  // namespace mnemo::ltm
