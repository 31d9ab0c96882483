// server/server_impl.h: the state the server's files share (server.cc: routes and auth;
// completions.cc: the completion endpoints; metrics.cc: /metrics).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "mnemo/chat.h"
#include "mnemo/model.h"
#include "net/http_loop.h"
#include "server/scheduler.h"
#include "mnemo/server.h"

namespace mnemo::server {

struct Server::Impl {
  const Model& model;
  ServerOptions opt;
  std::string name;                         // the model's API name
  std::optional<ChatTemplate> chat;         // none: the model has no template and none was given
  std::string chat_error;                   // why there is none
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<net::Loop> loop;
  int64_t created = 0;                      // unix seconds, for /v1/models

  std::mutex count_mu;
  std::map<std::pair<std::string, int>, uint64_t> requests;  // (route, status) -> answers

  explicit Impl(const Model& m) : model(m) {}
  net::Response handle(const net::Request& req);
  net::Response completion(const net::Request& req, bool is_chat);
  std::string metrics_text();
  void count(const std::string& route, int status);
};

// The chat page served at "/" (server/chat_page.cc).
extern const char kChatPageHtml[];

}  // namespace mnemo::server
