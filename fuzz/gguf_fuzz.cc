// libFuzzer target: GGUF reader (and writer) on arbitrary bytes.
//
// Parses the input; on success reads every metadata value through every accessor, every array
// element, and every byte of every tensor, then (for inputs up to 64 KiB) rewrites the file with
// GgufWriter and checks the rewrite parses to the same content and rewrites to the same bytes.
// On failure, checks the message names the file. Any crash, sanitizer report or failed check is a
// finding.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "fuzz_check.h"

namespace {

using mnemo::gguf::GgufFile;
using mnemo::gguf::GgufWriter;
using mnemo::gguf::TensorInfo;
using mnemo::gguf::Value;
using mnemo::gguf::ValueType;

const char kName[] = "fuzz.gguf";
constexpr size_t kMaxRewriteBytes = 64 * 1024;

// Folds bytes into a value the optimizer cannot drop, so every read really happens.
volatile uint64_t g_sink = 0;

uint64_t touch(std::span<const uint8_t> b) {
  uint64_t h = 0;
  for (uint8_t x : b) h = h * 31 + x;
  return h;
}

uint64_t touch(std::string_view s) {
  return touch(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

uint64_t touch_value(const GgufFile& f, const std::string& key, const Value& v) {
  uint64_t h = static_cast<uint64_t>(v.type());
  if (auto u = v.as_u64()) h += *u;
  if (auto i = v.as_i64()) h += static_cast<uint64_t>(*i);
  if (auto d = v.as_f64()) h += static_cast<uint64_t>(*d != *d ? 1 : 0);
  if (auto b = v.as_bool()) h += *b ? 1 : 0;
  if (auto s = v.as_string()) h += touch(*s);
  // The typed getters agree with the accessors.
  auto gu = f.get_u64(key);
  FUZZ_CHECK(gu.has_value() == v.as_u64().has_value());
  auto gs = f.get_string(key);
  FUZZ_CHECK(gs.has_value() == v.as_string().has_value());
  if (gs.has_value()) FUZZ_CHECK(*gs == *v.as_string());
  auto gf = f.get_f64_or(key, 0.0);
  FUZZ_CHECK(gf.has_value() == v.as_f64().has_value());
  auto gb = f.get_bool_or(key, false);
  FUZZ_CHECK(gb.has_value() == v.as_bool().has_value());
  if (!gu.has_value()) FUZZ_CHECK(gu.status().message().rfind(kName, 0) == 0);

  if (v.type() != ValueType::kArray) {
    FUZZ_CHECK(v.array_size() == 0);
    return h;
  }
  FUZZ_CHECK(v.array_type() != ValueType::kArray);
  if (v.array_type() == ValueType::kString) {
    FUZZ_CHECK(v.strings().size() == v.array_size());
    for (uint64_t i = 0; i < v.array_size(); ++i) h += touch(v.string_at(i));
    FUZZ_CHECK(v.array_bytes().empty());
  } else {
    FUZZ_CHECK(v.array_bytes().size() == v.array_size() * mnemo::gguf::value_type_size(v.array_type()));
    for (uint64_t i = 0; i < v.array_size(); ++i) {
      const double d = v.number_at(i);
      h += static_cast<uint64_t>(v.int_at(i)) + (d != d ? 1 : 0);
    }
    h += touch(v.array_bytes());
  }
  return h;
}

// The file rewritten by GgufWriter; empty when the writer refuses what the reader accepted
// (names it does not write, such as 64-byte tensor names or empty keys, or alignments below 8).
std::vector<uint8_t> rewrite(const GgufFile& f) {
  GgufWriter w(f.alignment());
  for (const auto& [key, value] : f.metadata()) w.set(key, value);
  for (const TensorInfo& t : f.tensors()) {
    if (!w.add_tensor(t.name, t.type, std::span<const int64_t>(t.ne, static_cast<size_t>(t.n_dims)),
                      f.view(t).data)
             .is_ok()) {
      return {};
    }
  }
  auto bytes = w.to_bytes();
  return bytes.has_value() ? std::move(bytes).value() : std::vector<uint8_t>();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  auto parsed = GgufFile::parse(input, kName);
  if (!parsed.has_value()) {
    FUZZ_CHECK(!parsed.status().message().empty());
    FUZZ_CHECK(parsed.status().message().rfind(std::string(kName) + ": ", 0) == 0);
    return 0;
  }
  const GgufFile& f = **parsed;
  FUZZ_CHECK(f.version() == 2 || f.version() == 3);
  FUZZ_CHECK(f.alignment() != 0 && (f.alignment() & (f.alignment() - 1)) == 0);
  uint64_t h = 0;
  for (const auto& [key, value] : f.metadata()) {
    FUZZ_CHECK(f.find(key) == &value);
    h += touch(key) + touch_value(f, key, value);
  }
  for (const TensorInfo& t : f.tensors()) {
    FUZZ_CHECK(f.find_tensor(t.name) == &t);
    FUZZ_CHECK(t.n_dims >= 1 && t.n_dims <= mnemo::kMaxDims);
    FUZZ_CHECK(t.offset % f.alignment() == 0);
    const mnemo::TensorView v = f.view(t);
    FUZZ_CHECK(v.n_bytes() == t.n_bytes);
    const std::span<const uint8_t> b = f.tensor_bytes(t);
    FUZZ_CHECK(b.size() == t.n_bytes);
    FUZZ_CHECK(b.data() == v.data);
    FUZZ_CHECK(b.data() >= data && b.data() + b.size() <= data + size);
    h += touch(b);
  }
  g_sink = g_sink + h;

  // Rewrite: the writer's output must parse to the same content and rewrite to the same bytes.
  // Skipped for large inputs (whole real models) to keep executions fast: the model tests rewrite
  // those byte for byte.
  if (size > kMaxRewriteBytes) return 0;
  std::vector<uint8_t> once = rewrite(f);
  if (once.empty()) return 0;
  auto again = GgufFile::parse(once, "rewrite.gguf");
  if (!again.has_value()) {
    std::fprintf(stderr, "rewrite rejected: %s\n", again.status().message().c_str());
    std::abort();
  }
  const GgufFile& g = **again;
  FUZZ_CHECK(g.version() == 3);
  FUZZ_CHECK(g.tensors().size() == f.tensors().size());
  // The writer may add general.alignment; everything else is the same keys in the same order.
  FUZZ_CHECK(g.metadata().size() >= f.metadata().size());
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    const Value& a = f.metadata()[i].second;
    const Value& b = g.metadata()[i].second;
    FUZZ_CHECK(f.metadata()[i].first == g.metadata()[i].first);
    FUZZ_CHECK(a.type() == b.type() && a.array_type() == b.array_type() && a.array_size() == b.array_size());
    FUZZ_CHECK(a.as_string() == b.as_string());
    FUZZ_CHECK(a.as_u64() == b.as_u64() && a.as_i64() == b.as_i64());
    FUZZ_CHECK(a.strings() == b.strings());
    FUZZ_CHECK(a.array_bytes().size() == b.array_bytes().size());
    FUZZ_CHECK(std::equal(a.array_bytes().begin(), a.array_bytes().end(), b.array_bytes().begin()));
  }
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& a = f.tensors()[i];
    const TensorInfo& b = g.tensors()[i];
    FUZZ_CHECK(a.name == b.name && a.type == b.type && a.n_dims == b.n_dims && a.n_bytes == b.n_bytes);
    FUZZ_CHECK(std::memcmp(a.ne, b.ne, sizeof(a.ne)) == 0);
    FUZZ_CHECK(std::memcmp(f.view(a).data, g.view(b).data, a.n_bytes) == 0);
  }
  FUZZ_CHECK(rewrite(g) == once);
  return 0;
}
