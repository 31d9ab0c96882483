// mnemo perplexity vs llama-perplexity over the whole validation text (label full, run by hand:
// `make full`), against the figures: F32 4.9693 (0.05%), Q8_0 4.9762 and Q4_0 5.3852
// (0.2%; llama.cpp's default F16 cache).
#include "cli_perplexity_check.h"

namespace mnemo::test {
namespace {

TEST(CliPerplexityFull, F32) { check_perplexity("stories260K.gguf", -1, "f32_c128_full_kvf32", 5e-4); }
TEST(CliPerplexityFull, Q8_0) { check_perplexity("stories260K-Q8_0.gguf", -1, "q8_c128_full_kvf16", 2e-3); }
TEST(CliPerplexityFull, Q4_0) { check_perplexity("stories260K-Q4_0.gguf", -1, "q4_c128_full_kvf16", 2e-3); }

}  // namespace
}  // namespace mnemo::test
