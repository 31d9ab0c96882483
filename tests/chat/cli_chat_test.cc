// `mnemo run --chat`, driven through stdin as a user would pipe a conversation into it, on
// mnemo's own small model (models/mnemo-stories.gguf, committed) rewritten with a chat template in
// its tokenizer.chat_template.
#include <gtest/gtest.h>

#include <regex>

#include "formats/gguf.h"
#include "test_util.h"

namespace mnemo {
namespace {

const char* kTemplate =
    "{%- for m in messages -%}\n"
    "{%- if m.role == 'user' -%}{{ m.content }}{%- else -%}{{ m.content }} {% endif -%}\n"
    "{%- endfor -%}";

std::string model_path() { return std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf"; }

// A copy of `src` with tokenizer.chat_template set to `tmpl`.
std::string with_template(const std::string& src, const std::string& tmpl) {
  auto f = gguf::GgufFile::open(src);
  EXPECT_TRUE(f.has_value()) << f.status().message();
  gguf::GgufWriter w((*f)->alignment());
  for (const auto& [k, v] : (*f)->metadata()) w.set(k, v);
  w.set("tokenizer.chat_template", gguf::Value::string(tmpl));
  for (const auto& t : (*f)->tensors()) {
    std::vector<int64_t> shape(t.ne, t.ne + t.n_dims);
    EXPECT_TRUE(w.add_tensor(t.name, t.type, shape, (*f)->tensor_bytes(t).data()).is_ok());
  }
  const std::string out = test::temp_dir() + "/chat.gguf";
  EXPECT_TRUE(w.finish(out).is_ok());
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  for (size_t e = s.find('\n'); e != std::string::npos; e = s.find('\n', b)) {
    out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

TEST(CliChat, ConversationOnStdinReusesTheCacheAndMatchesAFreshRun) {
  if (!test::exists(model_path())) GTEST_SKIP() << "not found: " << model_path();
  const std::string model = with_template(model_path(), kTemplate);
  const std::vector<std::string> common = {"-m", model, "--temp", "0", "-n", "24", "-t", "1"};
  std::vector<std::string> argv = {test::mnemo_bin(), "run", "--chat"};
  argv.insert(argv.end(), common.begin(), common.end());
  const auto r = test::run_process(argv, "Once upon a time\n\nThe little dog\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto answers = lines(r.out);
  ASSERT_EQ(answers.size(), 2u) << r.out;  // the empty line is not a turn
  EXPECT_FALSE(answers[1].empty());
  EXPECT_NE(r.err.find("chat template tokenizer.chat_template; turns end at: </s>"), std::string::npos) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("turn 2: prompt (\\d+) tokens, (\\d+) reused from the cache"))) << r.err;
  // Turn 2 keeps turn 1's prompt and answer in the cache: only the new user text is evaluated.
  EXPECT_GT(std::stoi(m[2]), 0);
  EXPECT_LT(std::stoi(m[1]) - std::stoi(m[2]), 10);

  // The same prompt, evaluated from scratch by `mnemo run`, continues the same way.
  const std::string turn2 = "Once upon a time" + answers[0] + " " + "The little dog";
  std::vector<std::string> run = {test::mnemo_bin(), "run", "-p", turn2, "-q"};
  run.insert(run.end(), common.begin(), common.end());
  const auto fresh = test::run_process(run);
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_TRUE(fresh.out.size() >= answers[1].size() + 1 &&
              fresh.out.compare(fresh.out.size() - answers[1].size() - 1, std::string::npos, answers[1] + "\n") == 0)
      << "chat: " << answers[1] << "\nfresh run: " << fresh.out;
}

TEST(CliChat, BuiltinTemplateOverrideAndErrors) {
  if (!test::exists(model_path())) GTEST_SKIP() << "not found: " << model_path();
  // The model has no template: --chat needs --chat-template.
  auto r = test::run_process({test::mnemo_bin(), "run", "--chat", "-m", model_path(), "-n", "4", "-t", "1"}, "Hi\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tokenizer.chat_template: expected the model to carry a chat template, found none"), std::string::npos) << r.err;
  r = test::run_process({test::mnemo_bin(), "run", "--chat", "--chat-template", "zephyr", "--system", "Tell stories.", "-m",
                         model_path(), "-n", "4", "--temp", "0", "-t", "1"},
                        "Hi\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("chat template zephyr (built-in)"), std::string::npos) << r.err;
  r = test::run_process({test::mnemo_bin(), "run", "--chat", "-p", "x", "-m", model_path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--chat: expected the conversation on stdin, found -p/-f"), std::string::npos) << r.err;
  const std::string bad = test::temp_dir() + "/bad.jinja";
  FILE* f = std::fopen(bad.c_str(), "w");
  std::fputs("{% for m in messages %}{{ m.content }", f);
  std::fclose(f);
  r = test::run_process({test::mnemo_bin(), "run", "--chat", "--chat-template", bad, "-m", model_path()}, "Hi\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(bad + ":1:24: expected '}}' closing the tag '{{' opened here, found the end of the template"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace mnemo
