// tests/ltm/stub_llm.h: a scripted OpenAI-compatible endpoint on loopback for the LLM-dependent
// paths (protocol and control flow only): /v1/chat/completions answers with whatever the test's
// `chat` function returns for the request; /v1/embeddings returns deterministic vectors.
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace mnemo::ltm::test {

class StubLlm {
 public:
  using ChatFn = std::function<std::string(const nlohmann::json& request, const std::string& last_user_message)>;

  explicit StubLlm(ChatFn chat, int embed_dim = 8) : chat_(std::move(chat)), dim_(embed_dim) {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json j = nlohmann::json::parse(req.body, nullptr, false);
      std::string last;
      if (j.is_object() && j.contains("messages") && j["messages"].is_array() && !j["messages"].empty())
        last = j["messages"].back().value("content", "");
      {
        std::lock_guard lock(mu_);
        requests_.push_back(j);
      }
      std::string content = chat_(j, last);
      if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
      nlohmann::json out = {{"id", "stub"},
                            {"object", "chat.completion"},
                            {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}}}}};
      res.set_content(out.dump(), "application/json");
    });
    server_.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json j = nlohmann::json::parse(req.body, nullptr, false);
      nlohmann::json data = nlohmann::json::array();
      const auto& input = j["input"];
      for (size_t i = 0; i < input.size(); ++i) {
        // Letter counts: similar texts get similar vectors.
        std::vector<float> v(dim_, 0.0f);
        for (char c : input[i].get<std::string>())
          if (c >= 'a' && c <= 'z') v[(c - 'a') % dim_] += 1.0f;
        v[0] += 0.01f;
        data.push_back({{"index", i}, {"embedding", v}});
      }
      ++embed_calls_;
      res.set_content(nlohmann::json({{"data", data}}).dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~StubLlm() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<nlohmann::json> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int embed_calls() const { return embed_calls_; }
  void set_delay_ms(int ms) { delay_ms_ = ms; }

 private:
  ChatFn chat_;
  int dim_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> requests_;
  std::atomic<int> embed_calls_{0};
  std::atomic<int> delay_ms_{0};
};

}  // namespace mnemo::ltm::test
