// The memory API over HTTP (cpp-httplib), mem0-shaped JSON under /v1/memories.
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
// Errors: {"error": {"code": "invalid_argument", "message": "..."}} with 400 (bad input), 404
// (not found, including another user's memory), 413 (too large), 422 (out of range), 500/503.
// Unknown fields are rejected (400), so a misspelt scope never widens a request. Bodies are decoded
// by ltm/http_codec.h (fuzzed: fuzz/ltm_http_fuzz.cc).
#include <httplib.h>

#include <set>

#include "base/strings.h"
#include "ltm/http_codec.h"
#include "ltm/json_codec.h"
#include "mnemo/memory.h"

namespace mnemo::ltm {
namespace {

using json = nlohmann::json;

int http_status(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kCorrupt: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kOutOfRange: return 413;
    case StatusCode::kUnsupported: return 400;
    case StatusCode::kResourceExhausted: return 507;
    case StatusCode::kIoError: return 503;
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content(json({{"error", {{"code", code}, {"message", message}}}}).dump(), "application/json");
}

void send_status(httplib::Response& res, const Status& s) {
  send_error(res, http_status(s.code()), status_code_name(s.code()), s.message());
}

void send_json(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

Status check_params(const httplib::Request& req, const std::set<std::string>& allowed) {
  for (const auto& [k, v] : req.params)
    if (!allowed.count(k)) return invalid_argument("query: unknown parameter " + quote_bytes(k));
  return Status::ok();
}

Expected<Scope> param_scope(const httplib::Request& req) {
  Scope s;
  s.user_id = req.get_param_value("user_id");
  s.agent_id = req.get_param_value("agent_id");
  s.session_id = req.has_param("session_id") ? req.get_param_value("session_id") : req.get_param_value("run_id");
  if (s.user_id.empty()) return invalid_argument("query: user_id is required");
  return s;
}

Expected<int64_t> param_int(const httplib::Request& req, const char* key, int64_t def) {
  if (!req.has_param(key)) return def;
  int64_t v;
  if (!parse_int64(req.get_param_value(key), &v))
    return invalid_argument(std::string("query: ") + key + ": expected an integer");
  return v;
}

class Routes {
 public:
  Routes(MemoryService& svc, const HttpOptions& opt) : svc_(svc), opt_(opt) {}

  void install(httplib::Server& s) {
    s.Get("/v1/health", wrap([](const httplib::Request&, httplib::Response& res) -> Status {
            send_json(res, {{"status", "ok"}});
            return Status::ok();
          }));
    s.Get("/v1/memories/stats", wrap([this](const httplib::Request&, httplib::Response& res) -> Status {
            ServiceStats st = svc_.stats();
            send_json(res, {{"users", st.users},
                            {"hot_memories", st.hot_memories},
                            {"cold_memories", st.cold_memories},
                            {"commits", st.commits},
                            {"writes", st.writes},
                            {"embedder", st.embedder},
                            {"vector_search", st.vector_search}});
            return Status::ok();
          }));
    s.Post("/v1/memories/search", wrap([this](const httplib::Request& q, httplib::Response& r) { return search(q, r); }));
    s.Post("/v1/memories/forget", wrap([this](const httplib::Request& q, httplib::Response& r) { return forget(q, r); }));
    s.Post(R"(/v1/memories/([^/]+)/restore)",
           wrap([this](const httplib::Request& q, httplib::Response& r) { return restore(q, r); }));
    s.Get(R"(/v1/memories/([^/]+)/history)",
          wrap([this](const httplib::Request& q, httplib::Response& r) { return history(q, r); }));
    s.Post("/v1/memories", wrap([this](const httplib::Request& q, httplib::Response& r) { return add(q, r); }));
    s.Get("/v1/memories", wrap([this](const httplib::Request& q, httplib::Response& r) { return list(q, r); }));
    s.Delete("/v1/memories", wrap([this](const httplib::Request& q, httplib::Response& r) { return remove_all(q, r); }));
    s.Get(R"(/v1/memories/([^/]+))", wrap([this](const httplib::Request& q, httplib::Response& r) { return get(q, r); }));
    s.Put(R"(/v1/memories/([^/]+))", wrap([this](const httplib::Request& q, httplib::Response& r) { return update(q, r); }));
    s.Delete(R"(/v1/memories/([^/]+))",
             wrap([this](const httplib::Request& q, httplib::Response& r) { return remove(q, r); }));
    s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413) send_error(res, 413, "out_of_range", "request body: larger than the server accepts");
      else if (res.status == 404) send_error(res, 404, "not_found", req.path + ": no such endpoint");
      else if (res.status == 405) send_error(res, 405, "invalid_argument", req.method + " " + req.path + ": method not allowed");
      else send_error(res, res.status, "error", str_printf("HTTP %d", res.status));
    });
    s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unexpected error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, 500, "internal", "server: " + what);
    });
  }

 private:
  using Fn = std::function<Status(const httplib::Request&, httplib::Response&)>;
  static httplib::Server::Handler wrap(Fn fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
      Status s;
      try {
        s = fn(req, res);
      } catch (const json::exception& e) {
        s = invalid_argument(std::string("request body: ") + e.what());
      } catch (const std::exception& e) {
        s = internal_error(std::string("server: ") + e.what());
      }
      if (!s.is_ok()) send_status(res, s);
    };
  }

  Status add(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {}));
    MNEMO_ASSIGN_OR_RETURN(std::vector<AddRequest> adds, decode_add(req.body));
    json results = json::array();
    for (const AddRequest& a : adds) {
      MNEMO_ASSIGN_OR_RETURN(AddResult r, svc_.add(a));
      results.push_back(to_json(r));
    }
    send_json(res, {{"results", results}});
    return Status::ok();
  }

  Status search(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {}));
    MNEMO_ASSIGN_OR_RETURN(SearchRequest s, decode_search(req.body));
    MNEMO_ASSIGN_OR_RETURN(auto hits, svc_.search(s));
    json results = json::array();
    for (const auto& h : hits) results.push_back(to_json(h));
    send_json(res, {{"results", results}});
    return Status::ok();
  }

  Status list(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {"user_id", "agent_id", "session_id", "run_id", "kind", "tag", "from_ms",
                                             "to_ms", "tier", "limit", "after"}));
    ListRequest l;
    MNEMO_ASSIGN_OR_RETURN(l.filter.scope, param_scope(req));
    for (size_t i = 0; i < req.get_param_value_count("kind"); ++i) l.filter.kinds.push_back(req.get_param_value("kind", i));
    for (size_t i = 0; i < req.get_param_value_count("tag"); ++i) l.filter.tags.push_back(req.get_param_value("tag", i));
    MNEMO_ASSIGN_OR_RETURN(l.filter.time_from_ms, param_int(req, "from_ms", std::numeric_limits<int64_t>::min()));
    MNEMO_ASSIGN_OR_RETURN(l.filter.time_to_ms, param_int(req, "to_ms", std::numeric_limits<int64_t>::max()));
    if (req.has_param("tier")) {
      MNEMO_ASSIGN_OR_RETURN(l.filter.tier, parse_tier(req.get_param_value("tier"), "query: tier"));
    }
    MNEMO_ASSIGN_OR_RETURN(int64_t limit, param_int(req, "limit", 100));
    if (limit < 1 || limit > 10000) return invalid_argument("query: limit: expected 1..10000");
    l.limit = static_cast<int>(limit);
    MNEMO_ASSIGN_OR_RETURN(int64_t after, param_int(req, "after", 0));
    l.after_id = after < 0 ? 0 : static_cast<uint64_t>(after);
    MNEMO_ASSIGN_OR_RETURN(auto recs, svc_.list(l));
    json results = json::array();
    for (const auto& r : recs) results.push_back(to_json(r));
    send_json(res, {{"results", results}});
    return Status::ok();
  }

  Status get(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {"user_id", "agent_id", "session_id", "run_id"}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(std::string(req.matches[1]), "path"));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, param_scope(req));
    MNEMO_ASSIGN_OR_RETURN(MemoryRecord r, svc_.get(scope, id));
    send_json(res, to_json(r));
    return Status::ok();
  }

  Status update(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(std::string(req.matches[1]), "path"));
    MNEMO_ASSIGN_OR_RETURN(UpdateRequest u, decode_update(req.body, id));
    MNEMO_ASSIGN_OR_RETURN(MemoryRecord r, svc_.update(u));
    send_json(res, to_json(r));
    return Status::ok();
  }

  Status remove(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {"user_id", "agent_id", "session_id", "run_id"}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(std::string(req.matches[1]), "path"));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, param_scope(req));
    MNEMO_RETURN_IF_ERROR(svc_.remove(scope, id));
    send_json(res, {{"message", "Memory deleted successfully"}, {"id", std::to_string(id)}});
    return Status::ok();
  }

  Status remove_all(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {"user_id", "agent_id", "session_id", "run_id"}));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, param_scope(req));
    MNEMO_ASSIGN_OR_RETURN(int64_t n, svc_.remove_all(scope));
    send_json(res, {{"message", "Memories deleted successfully"}, {"deleted", n}});
    return Status::ok();
  }

  Status history(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {"user_id", "agent_id", "session_id", "run_id"}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(std::string(req.matches[1]), "path"));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, param_scope(req));
    MNEMO_ASSIGN_OR_RETURN(auto entries, svc_.history(scope, id));
    json results = json::array();
    for (const auto& h : entries) results.push_back(to_json(h));
    send_json(res, {{"results", results}});
    return Status::ok();
  }

  Status forget(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {}));
    MNEMO_ASSIGN_OR_RETURN(ForgetRequest f, decode_forget(req.body));
    MNEMO_ASSIGN_OR_RETURN(ForgetResult r, svc_.forget(f));
    json moved = json::array();
    for (uint64_t id : r.moved) moved.push_back(std::to_string(id));
    send_json(res, {{"scanned", r.scanned}, {"moved", moved}, {"dry_run", f.dry_run}});
    return Status::ok();
  }

  Status restore(const httplib::Request& req, httplib::Response& res) {
    MNEMO_RETURN_IF_ERROR(check_params(req, {}));
    MNEMO_ASSIGN_OR_RETURN(uint64_t id, parse_id(std::string(req.matches[1]), "path"));
    MNEMO_ASSIGN_OR_RETURN(Scope scope, decode_restore(req.body));
    MNEMO_ASSIGN_OR_RETURN(MemoryRecord r, svc_.restore(scope, id));
    send_json(res, to_json(r));
    return Status::ok();
  }

  MemoryService& svc_;
  HttpOptions opt_;
};

}  // namespace

struct HttpServer::Impl {
  std::unique_ptr<httplib::Server> server;
  std::unique_ptr<Routes> routes;
  int port = 0;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() {
  if (impl_ && impl_->server) impl_->server->stop();
}

Expected<std::unique_ptr<HttpServer>> HttpServer::create(MemoryService& service, const HttpOptions& options) {
  if (options.threads < 1 || options.threads > 256) return invalid_argument("--threads: expected 1..256");
  if (options.port < 0 || options.port > 65535) return invalid_argument("--port: expected 0..65535");
  auto impl = std::make_unique<Impl>();
  impl->server = std::make_unique<httplib::Server>();
  impl->routes = std::make_unique<Routes>(service, options);
  impl->routes->install(*impl->server);
  const int threads = options.threads;
  impl->server->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  impl->server->set_payload_max_length(options.max_body_bytes);
  impl->server->set_read_timeout(30, 0);
  impl->server->set_write_timeout(30, 0);
  if (options.port == 0) {
    impl->port = impl->server->bind_to_any_port(options.host);
    if (impl->port <= 0) return io_error(options.host + ": cannot bind a port");
  } else {
    if (!impl->server->bind_to_port(options.host, options.port))
      return io_error(str_printf("%s:%d: cannot bind (in use?)", options.host.c_str(), options.port));
    impl->port = options.port;
  }
  if (options.on_listening) options.on_listening(impl->port);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }

Status HttpServer::run() {
  if (!impl_->server->listen_after_bind()) return io_error("memory server: listening stopped with an error");
  return Status::ok();
}

void HttpServer::stop() { impl_->server->stop(); }

}  // namespace mnemo::ltm
