// Dequantization against golden vectors produced by ggml's own scalar dequantizers
// (tests/data/dequant/, see tests/data/README.md): the reference must be bit-exact, every
// dispatched target within 1 ulp (NaN matches NaN; the files hold no NaN).
#include <cstdio>
#include <fstream>
#include <iterator>

#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference.h"

namespace mnemo::kernels::test {
namespace {

struct Golden {
  DType type;
  uint32_t n_rows = 0, n_per_row = 0, row_bytes = 0;
  std::vector<uint8_t> input;
  std::vector<float> output;
};

// Format: "MNDQ" u32 version=1 u32 type u32 n_rows u32 n_per_row u32 row_bytes, inputs, f32 outputs.
Golden load_golden(const std::string& name) {
  const std::string path = ::mnemo::test::golden_path("dequant/" + name + ".bin");
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing golden file " << path;
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Golden g{};
  if (bytes.size() < 24 || std::memcmp(bytes.data(), "MNDQ", 4) != 0) {
    ADD_FAILURE() << path << ": not a golden dequantization file";
    return g;
  }
  uint32_t hdr[5];
  std::memcpy(hdr, bytes.data() + 4, sizeof hdr);
  EXPECT_EQ(hdr[0], 1u) << path;
  g.type = static_cast<DType>(hdr[1]);
  g.n_rows = hdr[2];
  g.n_per_row = hdr[3];
  g.row_bytes = hdr[4];
  const size_t in_bytes = size_t{g.n_rows} * g.row_bytes;
  const size_t out_elems = size_t{g.n_rows} * g.n_per_row;
  if (bytes.size() != 24 + in_bytes + 4 * out_elems) {
    ADD_FAILURE() << path << ": size " << bytes.size() << " does not match its header";
    return Golden{};
  }
  EXPECT_EQ(traits(g.type).name, name) << path;
  EXPECT_EQ(row_bytes(g.type, g.n_per_row).value_or(0), g.row_bytes) << path;
  g.input.assign(bytes.begin() + 24, bytes.begin() + 24 + static_cast<ptrdiff_t>(in_bytes));
  g.output.resize(out_elems);
  std::memcpy(g.output.data(), bytes.data() + 24 + in_bytes, 4 * out_elems);
  return g;
}

const char* const kGoldenTypes[] = {"f16",  "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0",
                                    "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"};

// Max ulp distance of fn's output from the golden output, over all rows.
template <typename Fn>
uint64_t compare(const Golden& g, Fn&& fn, const std::string& what) {
  std::vector<float> got(g.n_per_row);
  uint64_t worst = 0;
  int reported = 0;
  for (uint32_t r = 0; r < g.n_rows; ++r) {
    fn(g.input.data() + size_t{r} * g.row_bytes, got.data());
    for (uint32_t i = 0; i < g.n_per_row; ++i) {
      const float want = g.output[size_t{r} * g.n_per_row + i];
      const uint64_t u = ulp_distance(got[i], want);
      worst = std::max(worst, u);
      if (u > 0 && reported++ < 3) {
        std::printf("[ info     ] %s row %u element %u: got %.9g want %.9g (%llu ulp)\n", what.c_str(),
                    r, i, got[i], want, static_cast<unsigned long long>(u));
      }
    }
  }
  return worst;
}

TEST(GoldenDequant, ReferenceIsBitExact) {
  for (const char* name : kGoldenTypes) {
    const Golden g = load_golden(name);
    if (g.n_rows == 0) continue;
    const uint64_t worst = compare(
        g, [&](const uint8_t* in, float* out) { dequantize_row_ref(g.type, in, out, g.n_per_row); },
        std::string("ref ") + name);
    EXPECT_EQ(worst, 0u) << name;
  }
}

class GoldenDequantTest : public KernelTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(GoldenDequantTest);

TEST_P(GoldenDequantTest, WithinOneUlp) {
  for (const char* name : kGoldenTypes) {
    const Golden g = load_golden(name);
    if (g.n_rows == 0) continue;
    const uint64_t worst = compare(
        g, [&](const uint8_t* in, float* out) { dequantize_row(g.type, in, out, g.n_per_row); },
        std::string(hwy::TargetName(GetParam())) + " " + name);
    EXPECT_LE(worst, 1u) << name << " on " << hwy::TargetName(GetParam());
  }
}

}  // namespace
}  // namespace mnemo::kernels::test
