// mnemo/server.h: `mnemo serve`, an OpenAI-compatible HTTP server over one model.
//
// Connections are net/http_loop.h's (one epoll thread, handler threads that only see whole
// requests, every limit of the memory service: connection caps, timeouts, body and header
// limits). Handlers decode and check a request (src/server/api.h), tokenize it (chat requests through
// the model's chat template, mnemo/chat.h) and hand it to the Scheduler (server/scheduler.h), whose
// one engine thread owns the Context and answers through a net::Deferred: the loop is woken by an
// eventfd for each piece of text, so neither side ever waits for the other.
//
// Routes: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions (both with
// "stream": true as server-sent events ending in "data: [DONE]"), GET /metrics (Prometheus text),
// GET / (a chat page). Every error is OpenAI's error object with its HTTP status: 400 bad
// parameters (the "param" names the field), 401 a missing or wrong Bearer key, 404 an unknown
// route or model, 405 a wrong method, 413 a body over the limit, 503 a full queue (Retry-After),
// 500 a failure of the model.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/model.h"
#include "mnemo/status.h"

namespace mnemo::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0: a free port (tests)
  std::vector<std::string> api_keys;  // empty: no authentication
  int parallel = 4;                   // sequences generated at once
  int64_t n_ctx = 0;                  // positions per sequence; 0: the model's training context
  uint64_t kv_pool_bytes = 0;         // KV memory the sequences share; 0: `parallel` full contexts
  std::string type_k, type_v;         // KV cache types (ContextParams)
  std::string alias;                  // the model's API name; empty: the file name without .gguf
  std::string chat_template;          // --chat-template: a built-in name or a file; empty: the model's
  int64_t prefill_chunk = 128;        // prompt tokens per step (chunked prefill)
  size_t max_queue = 64;              // requests waiting for a sequence; beyond, 503
  int http_threads = 4;               // handler threads (they never wait for the model)
  size_t max_body_bytes = 1 << 20;
};

class Server {
 public:
  // Creates the Context (n_seq_max = parallel) within the model's engine budget and binds.
  // Errors: the context does not fit the budget; --chat-template names no template; the address.
  static Expected<std::unique_ptr<Server>> create(const Model& model, const ServerOptions& options);
  ~Server();
  int port() const;
  const std::string& model_name() const;
  int64_t n_ctx() const;
  // Serves until stop(); the engine thread runs meanwhile.
  Status run();
  // From any thread (a signal handler must not: use a thread that waits for the signal).
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The file name without directories and ".gguf" / ".bin": the default API name of a model.
std::string default_model_name(const std::string& path);

}  // namespace mnemo::server
