// mnemo serve: an OpenAI-compatible HTTP server (mnemo/server.h) over one model, with continuous
// batching of up to --parallel sequences inside the --mem budget.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <fstream>
#include <thread>

#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"
#include "mnemo/server.h"

namespace mnemo::cli {
namespace {

struct ServeOptions {
  ModelOptions model;
  EngineOptions engine;
  ContextOptions context;
  server::ServerOptions server;
  std::string api_key, api_keys_file, kv_pool;
};

int g_signal_pipe[2] = {-1, -1};

void on_signal(int sig) {
  const char b = static_cast<char>(sig);
  ssize_t n = ::write(g_signal_pipe[1], &b, 1);  // async-signal-safe
  (void)n;
}

// --api-keys FILE: one key a line; blank lines and lines starting with '#' skipped.
Status read_keys(const std::string& path, std::vector<std::string>* keys) {
  std::ifstream in(path);
  if (!in) return io_error(path + ": cannot open (--api-keys)");
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    keys->push_back(line);
  }
  if (keys->empty()) return invalid_argument(path + ": expected at least one key (--api-keys), found none");
  return Status::ok();
}

Status serve(ServeOptions& o) {
  if (!o.api_key.empty() && !o.api_keys_file.empty()) return usage_error("--api-key and --api-keys: give one, not both");
  if (!o.api_key.empty()) o.server.api_keys.push_back(o.api_key);
  if (!o.api_keys_file.empty()) MNEMO_RETURN_IF_ERROR(read_keys(o.api_keys_file, &o.server.api_keys));
  if (!o.kv_pool.empty()) {
    auto bytes = parse_memory_budget(o.kv_pool);
    if (!bytes.has_value()) return usage_error("--kv-pool: " + bytes.status().message());
    o.server.kv_pool_bytes = *bytes;
  }
  MNEMO_ASSIGN_OR_RETURN(auto engine, o.engine.create());
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params(engine)));
  MNEMO_RETURN_IF_ERROR(o.context.check(*model));
  o.server.n_ctx = o.context.n_ctx;
  o.server.type_k = o.context.type_k;
  o.server.type_v = o.context.type_v;

  MNEMO_ASSIGN_OR_RETURN(auto srv, server::Server::create(*model, o.server));
  std::fprintf(stderr, "mnemo: serving %s on http://%s:%d (%d sequences of %lld positions; %s)\n",
               srv->model_name().c_str(), o.server.host.c_str(), srv->port(), o.server.parallel,
               static_cast<long long>(srv->n_ctx()), engine->describe().c_str());
  // SIGINT and SIGTERM (whichever thread receives them) write a byte to a pipe; a thread reading
  // it stops the server. The server stopping on its own wakes that thread the same way.
  if (::pipe2(g_signal_pipe, O_CLOEXEC) != 0) return io_error("serve: pipe: cannot create");
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::thread waiter([&] {
    char sig = 0;
    while (::read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    if (sig != 0) std::fprintf(stderr, "mnemo: signal %d, stopping\n", sig);
    srv->stop();
  });
  Status st = srv->run();
  on_signal(0);  // wakes the waiter if the server stopped on its own
  waiter.join();
  return st;
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  o->model.add_to(app);
  o->engine.add_to(app);
  o->context.add_to(app, 0, "Positions per sequence (0 = the model file's)");
  add_listen_options(app, o->server.host, o->server.port, 8080);
  app.add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on every route but /health and /");
  app.add_option("--api-keys", o->api_keys_file, "Like --api-key, with the keys read from a file (one a line)");
  app.add_option("--parallel", o->server.parallel, "Sequences generated at once (continuous batching)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--kv-pool", o->kv_pool,
                 "KV memory the sequences share (600M, 2G); default: --parallel full contexts. A step the pool "
                 "cannot hold preempts the youngest sequence, which is recomputed later");
  app.add_option("--prefill-chunk", o->server.prefill_chunk, "Prompt tokens per step, interleaved with decoding")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--queue", o->server.max_queue, "Requests waiting for a sequence; beyond, 503")->capture_default_str();
  app.add_option("--alias", o->server.alias, "The model's API name (default: the file name without .gguf)");
  add_chat_template_option(app, o->server.chat_template, "For /v1/chat/completions: ");
  return [o] { return serve(*o); };
}

}  // namespace

MNEMO_COMMAND("serve", "OpenAI-compatible HTTP server with continuous batching", setup);

}  // namespace mnemo::cli
