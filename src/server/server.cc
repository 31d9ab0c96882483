#include "mnemo/server.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "mnemo/context.h"
#include "server/api.h"
#include "server/server_impl.h"

namespace mnemo::server {
namespace {

using json = nlohmann::json;

// Compares in time independent of where the strings differ (a key is not guessed byte by byte).
bool equal_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// The routes a key is not asked for: the liveness probe and the chat page (which asks for the key).
bool is_public(const std::string& path) { return path == "/health" || path == "/"; }

}  // namespace

std::string default_model_name(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  for (const char* ext : {".gguf", ".bin"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      name.resize(name.size() - e.size());
      break;
    }
  }
  return name;
}

void Server::Impl::count(const std::string& route, int status) {
  std::lock_guard l(count_mu);
  ++requests[{route, status}];
}

net::Response Server::Impl::handle(const net::Request& req) {
  // Routes are counted by name; anything else as "other" (a client cannot grow the table).
  static const char* const kRoutes[] = {"/health", "/v1/models", "/v1/completions", "/v1/chat/completions", "/metrics", "/"};
  std::string route = "other";
  for (const char* r : kRoutes)
    if (req.path == r) route = r;
  auto answer = [&](net::Response r) {
    count(route, r.status);
    return r;
  };
  if (!opt.api_keys.empty() && !is_public(req.path)) {
    std::string_view auth = req.header("authorization");
    bool ok = false;
    if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
      for (const std::string& k : opt.api_keys) ok |= equal_constant_time(auth.substr(7), k);
    }
    if (!ok) {
      net::Response e = openai_error(401, auth.empty() ? "authorization: expected 'Bearer <key>', found no header"
                                                       : "authorization: the API key is not valid",
                                     "", "invalid_api_key");
      e.headers.emplace_back("WWW-Authenticate", "Bearer");
      return answer(std::move(e));
    }
  }
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";
  auto method_error = [&](const char* allowed) {
    net::Response e = openai_error(405, str_printf("%s: expected %s, found %s", req.path.c_str(), allowed, req.method.c_str()));
    e.headers.emplace_back("Allow", allowed);
    return answer(std::move(e));
  };
  if (req.path == "/health") {
    if (!get) return method_error("GET");
    net::Response r;
    r.body = R"({"status":"ok"})";
    return answer(std::move(r));
  }
  if (req.path == "/v1/models") {
    if (!get) return method_error("GET");
    json m = {{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "mnemo"},
              {"meta", {{"n_ctx", scheduler->n_ctx()}, {"n_vocab", model.info().n_vocab},
                        {"n_params", model.info().n_params}, {"size", model.info().file_bytes}}}};
    net::Response r;
    r.body = json({{"object", "list"}, {"data", json::array({m})}}).dump(-1, ' ', false, json::error_handler_t::replace);
    return answer(std::move(r));
  }
  if (req.path == "/v1/completions" || req.path == "/v1/chat/completions") {
    if (!post) return method_error("POST");
    return answer(completion(req, req.path == "/v1/chat/completions"));
  }
  if (req.path == "/metrics") {
    if (!get) return method_error("GET");
    net::Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_text();
    return answer(std::move(r));
  }
  if (req.path == "/") {
    if (!get) return method_error("GET");
    net::Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = kChatPageHtml;
    return answer(std::move(r));
  }
  return answer(openai_error(404, req.path + ": no such route (try /v1/completions, /v1/chat/completions, /v1/models)",
                             "", "not_found"));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop();
  impl_->loop.reset();       // no more requests, every Deferred cancelled
  impl_->scheduler.reset();  // joins the engine thread
}

int Server::port() const { return impl_->loop->port(); }
const std::string& Server::model_name() const { return impl_->name; }
int64_t Server::n_ctx() const { return impl_->scheduler->n_ctx(); }

Status Server::run() {
  impl_->scheduler->start();
  Status st = impl_->loop->run();
  impl_->scheduler->stop();
  return st;
}

void Server::stop() {
  if (impl_->loop) impl_->loop->stop();
  if (impl_->scheduler) impl_->scheduler->stop();
}

Expected<std::unique_ptr<Server>> Server::create(const Model& model, const ServerOptions& o) {
  if (o.parallel < 1) return invalid_argument(str_printf("--parallel: expected at least 1, found %d", o.parallel));
  if (o.prefill_chunk < 1) return invalid_argument("prefill chunk: expected at least 1");
  auto impl = std::make_unique<Impl>(model);
  impl->opt = o;
  impl->name = o.alias.empty() ? default_model_name(model.info().path) : o.alias;
  impl->created = static_cast<int64_t>(std::time(nullptr));
  auto tmpl = ChatTemplate::resolve(o.chat_template, model.info().chat_template, model.tokenizer());
  if (tmpl.has_value()) impl->chat = std::move(*tmpl);
  else if (!o.chat_template.empty()) return Status(tmpl.status().code(), "--chat-template: " + tmpl.status().message());
  else impl->chat_error = tmpl.status().message();

  ContextParams cp;
  cp.n_ctx = o.n_ctx;
  cp.n_seq_max = o.parallel;
  cp.kv_pool_bytes = o.kv_pool_bytes;
  cp.type_k = o.type_k;
  cp.type_v = o.type_v;
  cp.n_batch = std::max<int64_t>(o.prefill_chunk + o.parallel, 64);
  cp.n_batch_min = o.parallel;  // a decode step of every sequence fits one batch
  MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(model, cp));
  SchedulerOptions so;
  so.parallel = o.parallel;
  so.prefill_chunk = o.prefill_chunk;
  so.max_queue = o.max_queue;
  impl->scheduler = std::make_unique<Scheduler>(std::move(ctx), model.tokenizer(), so);

  net::LoopOptions lo;
  lo.threads = std::max(1, o.http_threads);
  lo.limits.max_body_bytes = o.max_body_bytes;
  lo.error_body = [](int status, const std::string& code, const std::string& message) {
    return openai_error(status, message, "", code);
  };
  Impl* p = impl.get();
  MNEMO_ASSIGN_OR_RETURN(impl->loop, net::Loop::bind(o.host, o.port, lo, [p](const net::Request& r) { return p->handle(r); }));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace mnemo::server
