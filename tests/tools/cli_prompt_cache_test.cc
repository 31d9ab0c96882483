// `mnemo run --prompt-cache` as llama.cpp's: the second run of a prompt reuses all but its last
// token and prints the same greedy text; a cache from another model or with other KV types is a
// clear error that leaves the file as it was; -ro never writes; the flags need the file.
#include <fstream>
#include <iterator>

#include "test_util.h"

namespace mnemo::test {
namespace {

const std::string kStories = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf";
const std::string kLongCtx = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-longctx.gguf";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

ProcessResult run(const std::string& model, const std::string& cache, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {mnemo_bin(), "run", "-m", model, "-p", "Once upon a time, there was a little girl",
                                   "-n", "12", "--temp", "0", "--prompt-cache", cache};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_process(args);
}

TEST(CliPromptCache, SecondRunReusesThePromptAndPrintsTheSameText) {
  const std::string cache = temp_dir() + "/run.kvs";
  std::remove(cache.c_str());
  ProcessResult a = run(kStories, cache);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.err.find("0 of 13 prompt tokens reused"), std::string::npos) << a.err;
  ProcessResult b = run(kStories, cache);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.err.find("12 of 13 prompt tokens reused"), std::string::npos) << b.err;
  EXPECT_EQ(a.out, b.out);
  ProcessResult c = run(kStories, cache, {"--prompt-cache-all"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(a.out, c.out);
  const std::string saved = slurp(cache);
  ProcessResult d = run(kStories, cache, {"--prompt-cache-ro"});  // reuses, never writes
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(a.out, d.out);
  EXPECT_EQ(slurp(cache), saved);
}

TEST(CliPromptCache, ForeignCachesAreRefusedAndKept) {
  const std::string cache = temp_dir() + "/foreign.kvs";
  std::remove(cache.c_str());
  ASSERT_EQ(run(kStories, cache).exit_code, 0);
  const std::string saved = slurp(cache);
  ProcessResult r = run(kLongCtx, cache);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("another model"), std::string::npos) << r.err;
  r = run(kStories, cache, {"-ctk", "q8_0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("KV types"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(cache), saved);
  r = run_process({mnemo_bin(), "run", "-m", kStories, "-p", "x", "--prompt-cache-ro"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--prompt-cache FILE"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mnemo::test
