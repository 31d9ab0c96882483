// Decoding of OpenAI request bodies and the error object (src/server/api.h): no model, no sockets.
#include "server/api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace mnemo::server {
namespace {

using json = nlohmann::json;

TEST(ServerApi, DecodesACompletion) {
  auto r = decode_completion(
      R"({"model":"m","prompt":"hi","max_tokens":5,"temperature":0,"top_p":0.5,"seed":7,"stop":["a","b"],"n":1,
          "stream":true,"stream_options":{"include_usage":true},"logprobs":2,"user":"ignored"})",
      false);
  ASSERT_TRUE(r.has_value()) << r.status().message();
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->prompt, "hi");
  EXPECT_EQ(r->max_tokens, 5);
  EXPECT_EQ(*r->temperature, 0.0f);
  EXPECT_EQ(*r->top_p, 0.5f);
  EXPECT_EQ(*r->seed, 7u);
  EXPECT_EQ(r->stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->top_logprobs, 2);
  auto t = decode_completion(R"({"prompt":[1,2,3],"stop":"x"})", false);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->prompt_tokens, (std::vector<Token>{1, 2, 3}));
  EXPECT_EQ(t->stop, (std::vector<std::string>{"x"}));
  EXPECT_EQ(t->max_tokens, -1);
}

TEST(ServerApi, DecodesAChat) {
  auto r = decode_completion(R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":3})", true);
  ASSERT_TRUE(r.has_value()) << r.status().message();
  EXPECT_EQ(json::parse(r->messages_json)[0]["content"], "hi");
  EXPECT_EQ(r->top_logprobs, 3);
}

TEST(ServerApi, RefusesBadFieldsNamingThem) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "body"},
      {"[1]", "body"},
      {"{\"prompt\":", "body"},
      {R"({"prompt":5})", "prompt"},
      {R"({"prompt":""})", "prompt"},
      {R"({"prompt":["a","b"]})", "prompt"},
      {R"({"prompt":"x","max_tokens":0})", "max_tokens"},
      {R"({"prompt":"x","max_tokens":1.5})", "max_tokens"},
      {R"({"prompt":"x","temperature":3})", "temperature"},
      {R"({"prompt":"x","top_p":-1})", "top_p"},
      {R"({"prompt":"x","n":3})", "n"},
      {R"({"prompt":"x","seed":"s"})", "seed"},
      {R"({"prompt":"x","stop":[1]})", "stop"},
      {R"({"prompt":"x","stream":"yes"})", "stream"},
      {R"({"prompt":"x","logprobs":21})", "logprobs"},
      {R"({"prompt":"x","model":3})", "model"},
  };
  for (const auto& [body, field] : cases) {
    auto r = decode_completion(body, false);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(std::string(field) + ":", 0), 0u) << r.status().message();
    json e = json::parse(openai_error(r.status()).body);
    EXPECT_EQ(e["error"]["type"], "invalid_request_error");
    if (std::string(field) != "body") EXPECT_EQ(e["error"]["param"], field) << body;
    else EXPECT_TRUE(e["error"]["param"].is_null());
  }
  for (const char* body : {R"({"messages":[]})", R"({"messages":[{"content":"x"}]})", R"({"messages":[1]})",
                           R"({"messages":[{"role":"user"}],"logprobs":2})"}) {
    EXPECT_FALSE(decode_completion(body, true).has_value()) << body;
  }
}

TEST(ServerApi, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = "{\"prompt\":\"x\",\"extra\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = decode_completion(deep, false);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("nested"), std::string::npos) << r.status().message();
}

TEST(ServerApi, ErrorObjectShape) {
  json e = json::parse(openai_error(401, "no key", "", "invalid_api_key").body);
  EXPECT_EQ(e["error"]["message"], "no key");
  EXPECT_EQ(e["error"]["type"], "authentication_error");
  EXPECT_TRUE(e["error"]["param"].is_null());
  EXPECT_EQ(e["error"]["code"], "invalid_api_key");
  EXPECT_EQ(json::parse(openai_error(503, "busy").body)["error"]["type"], "server_error");
  EXPECT_EQ(json::parse(openai_error(404, "x").body)["error"]["type"], "not_found_error");
}

}  // namespace
}  // namespace mnemo::server
