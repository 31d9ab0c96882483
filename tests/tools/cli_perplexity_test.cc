// mnemo perplexity vs llama-perplexity over 100 chunks (label model); see cli_perplexity_check.h.
#include "cli_perplexity_check.h"

namespace mnemo::test {
namespace {

TEST(CliPerplexity, F32Chunks100) { check_perplexity("stories260K.gguf", 100, "f32_c128_ch100_kvf32", 5e-4); }
TEST(CliPerplexity, Q8_0Chunks100) { check_perplexity("stories260K-Q8_0.gguf", 100, "q8_c128_ch100_kvf32", 2e-3); }
TEST(CliPerplexity, Q4_0Chunks100) { check_perplexity("stories260K-Q4_0.gguf", 100, "q4_c128_ch100_kvf32", 2e-3); }

}  // namespace
}  // namespace mnemo::test
