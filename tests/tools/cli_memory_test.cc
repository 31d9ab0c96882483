// Weights are mapped, not copied: generating with the tinyllama-1.1b shape in Q4_0 keeps the
// resident set at most file size + KV cache + 100 MiB.
#include <sys/stat.h>

#include <cstdio>

#include "test_util.h"

namespace mnemo::test {
namespace {

TEST(CliMemory, ResidentSetBoundedByFilePlusKv) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine inflate the resident set; the release suite checks it";
#endif
  const std::string dir = temp_dir();
  const std::string model = dir + "/tinyllama-q4_0.gguf";
  ProcessResult g = run_process({mnemo_bin(), "gen-model", "--shape", "tinyllama-1.1b", "--dtype", "Q4_0", "-o", model});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  struct stat st;
  ASSERT_EQ(stat(model.c_str(), &st), 0);
  const long n_ctx = 256;
  // KV: 2 (K, V) x 22 layers x n_ctx x 256 (4 kv heads x 64) x 4 bytes.
  const long kv_bytes = 2L * 22 * n_ctx * 256 * 4;
  ProcessResult r = run_process({mnemo_bin(), "run", "-m", model, "-p", "Once upon a time", "-n", "24", "-c",
                                 std::to_string(n_ctx), "-t", "2", "--seed", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const long bound_kb = (st.st_size + kv_bytes) / 1024 + 100 * 1024;
  EXPECT_LE(r.max_rss_kb, bound_kb) << "file " << st.st_size / 1024 << " KiB, KV " << kv_bytes / 1024 << " KiB";
  EXPECT_GT(r.max_rss_kb, st.st_size / 1024 / 2) << "the weights should have been read";
  std::remove(model.c_str());
}

}  // namespace
}  // namespace mnemo::test
