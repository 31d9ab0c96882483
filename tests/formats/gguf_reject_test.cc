// GGUF reader on hostile files: every rejection path, each with its message.
#include <limits>

#include "formats/gguf.h"
#include "formats/gguf_bytes.h"
#include "test_util.h"

namespace mnemo::gguf {
namespace {

using test::GgufBytes;
using VT = ValueType;

constexpr uint32_t kF32 = 0, kQ4_0 = 2, kF64 = 28;

struct Reject {
  const char* what;
  GgufBytes file;
  StatusCode code;
  const char* message;  // a substring of the full message, which starts with "h.gguf: "
  Limits limits = Limits();
};

void expect_rejected(const Reject& c) {
  SCOPED_TRACE(c.what);
  auto f = GgufFile::parse(c.file.span(), "h.gguf", c.limits);
  ASSERT_FALSE(f.has_value()) << "accepted";
  const Status& s = f.status();
  EXPECT_EQ(s.code(), c.code) << status_code_name(s.code()) << ": " << s.message();
  EXPECT_EQ(s.message().rfind("h.gguf: ", 0), 0u) << s.message();
  EXPECT_NE(s.message().find(c.message), std::string::npos) << "message: " << s.message();
}

GgufBytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  GgufBytes b;
  b.header(n_tensors, n_kv, version);
  return b;
}

TEST(GgufReject, Header) {
  GgufBytes ggml;
  ggml.raw("GGML", 4).u32(3).u64(0).u64(0);
  GgufBytes big_endian;
  big_endian.raw("GGUF", 4).u32(0x03000000u).u64(0).u64(0);
  const Reject cases[] = {
      {"empty file", GgufBytes(), StatusCode::kCorrupt, "h.gguf: magic: expected \"GGUF\", found a file of 0 bytes"},
      {"short magic", GgufBytes().raw("GG", 2), StatusCode::kCorrupt, "magic: expected \"GGUF\", found a file of 2 bytes"},
      {"wrong magic", ggml, StatusCode::kCorrupt, "h.gguf: magic: expected \"GGUF\", found \"GGML\""},
      {"no version", GgufBytes().raw("GGUF", 4), StatusCode::kCorrupt,
       "h.gguf: version: expected 4 bytes at offset 4, found 0 before the end of the file"},
      {"v1", header(0, 0, 1), StatusCode::kUnsupported,
       "h.gguf: version: expected 2 or 3, found 1 (GGUF v1 is no longer supported)"},
      {"v4", header(0, 0, 4), StatusCode::kUnsupported, "h.gguf: version: expected 2 or 3, found 4"},
      {"v0", header(0, 0, 0), StatusCode::kCorrupt, "h.gguf: version: expected 2 or 3, found 0"},
      {"big-endian", big_endian, StatusCode::kUnsupported, "found 50331648 (a big-endian file?)"},
      {"truncated counts", GgufBytes().raw("GGUF", 4).u32(3).u64(0), StatusCode::kCorrupt,
       "h.gguf: kv count: expected 8 bytes at offset 16, found 0 before the end of the file"},
  };
  for (const Reject& c : cases) expect_rejected(c);
}

TEST(GgufReject, Counts) {
  Limits small;
  small.max_kv = 2;
  small.max_tensors = 1;
  const Reject cases[] = {
      {"kv count over limit", header(0, 3).zeros(100), StatusCode::kOutOfRange,
       "h.gguf: kv count: expected at most 2 key/values, found 3", small},
      {"tensor count over limit", header(2, 0).zeros(100), StatusCode::kOutOfRange,
       "h.gguf: tensor count: expected at most 1 tensors, found 2", small},
      {"kv count beyond the file", header(0, 1ull << 40), StatusCode::kOutOfRange,
       "h.gguf: kv count: expected at most 65536 key/values, found 1099511627776"},
      {"kv count vs remaining bytes", header(0, 1000).zeros(26), StatusCode::kCorrupt,
       "h.gguf: kv count: expected at most 2 key/values in the 26 bytes that remain, found 1000"},
      {"tensor count vs remaining bytes", header(100, 0).zeros(64), StatusCode::kCorrupt,
       "h.gguf: tensor count: expected at most 2 tensor infos (beside 0 key/values) in the 64 bytes that remain, "
       "found 100"},
      {"max u64 counts", header(std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max()),
       StatusCode::kOutOfRange, "kv count: expected at most 65536"},
  };
  for (const Reject& c : cases) expect_rejected(c);
}

TEST(GgufReject, KeysAndValues) {
  Limits small;
  small.max_string_len = 4;
  small.max_array_len = 3;
  small.max_key_len = 5;
  const Reject cases[] = {
      {"key length over limit", header(0, 1).key("toolong", VT::kUint8).u8(0), StatusCode::kOutOfRange,
       "h.gguf: kv 0 key: expected a length of at most 5 bytes, found 7", small},
      {"key truncated", header(0, 1).u64(100).raw("abcdefghijklm", 13), StatusCode::kCorrupt,
       "h.gguf: kv 0 key: expected 100 bytes at offset 32, found 13 before the end of the file"},
      {"key length huge", header(0, 1).u64(1ull << 63).zeros(8), StatusCode::kOutOfRange,
       "h.gguf: kv 0 key: expected a length of at most 65535 bytes, found 9223372036854775808"},
      {"duplicate key", header(0, 3).kv_u32("a", 1).kv_u32("b", 2).kv_u32("a", 3), StatusCode::kCorrupt,
       "h.gguf: key \"a\": expected a unique key, found it again at kv 2 (first at kv 0)"},
      {"unknown value type", header(0, 1).key("k", static_cast<VT>(13)).u64(0), StatusCode::kCorrupt,
       "h.gguf: key \"k\": value type: expected a value type id in 0..12, found 13"},
      {"value truncated", header(0, 1).key("k", VT::kUint64).u32(0), StatusCode::kCorrupt,
       "h.gguf: key \"k\": expected 8 bytes at offset 37, found 4 before the end of the file"},
      {"string over limit", header(0, 1).kv_str("k", "hello"), StatusCode::kOutOfRange,
       "h.gguf: key \"k\": expected a length of at most 4 bytes, found 5", small},
      {"string truncated", header(0, 1).key("k", VT::kString).u64(50).raw("abc", 3), StatusCode::kCorrupt,
       "h.gguf: key \"k\": expected 50 bytes at offset 45, found 3 before the end of the file"},
      {"string length over default limit", header(0, 1).key("k", VT::kString).u64(1ull << 40), StatusCode::kOutOfRange,
       "h.gguf: key \"k\": expected a length of at most 16777216 bytes, found 1099511627776"},
      {"bool not 0/1", header(0, 1).key("b", VT::kBool).u8(2), StatusCode::kCorrupt,
       "h.gguf: key \"b\": expected a bool 0 or 1, found 2"},
      {"nested array", header(0, 1).key("k", VT::kArray).u32(9).u64(1), StatusCode::kCorrupt,
       "h.gguf: key \"k\": expected an array of scalars or strings, found a nested array"},
      {"array element type unknown", header(0, 1).key("k", VT::kArray).u32(77).u64(1), StatusCode::kCorrupt,
       "h.gguf: key \"k\": array element type: expected a value type id in 0..12, found 77"},
      {"array length over limit", header(0, 1).key("k", VT::kArray).u32(0).u64(4).zeros(4),
       StatusCode::kOutOfRange, "h.gguf: key \"k\": expected at most 3 array elements, found 4", small},
      {"array byte size overflow", header(0, 1).key("k", VT::kArray).u32(10).u64(1ull << 62).zeros(64),
       StatusCode::kCorrupt,
       "h.gguf: key \"k\": expected an array byte size below 2^64, found 4611686018427387904 elements of 8 bytes",
       [] {
         Limits l;
         l.max_array_len = std::numeric_limits<uint64_t>::max();
         return l;
       }()},
      {"array past the end", header(0, 1).key("k", VT::kArray).u32(6).u64(1000).zeros(16), StatusCode::kCorrupt,
       "h.gguf: key \"k\": expected 4000 bytes of array data (1000 x float32), found 16 before the end of the file"},
      {"string array count vs remaining", header(0, 1).key("k", VT::kArray).u32(8).u64(100).zeros(16),
       StatusCode::kCorrupt,
       "h.gguf: key \"k\": expected at most 2 strings in the 16 bytes that remain, found an array length of 100"},
      {"string array element truncated", header(0, 1).key("k", VT::kArray).u32(8).u64(2).str("ab").u64(9).raw("x", 1),
       StatusCode::kCorrupt, "h.gguf: key \"k\"[1]: expected 9 bytes at offset"},
      {"string array element over limit", header(0, 1).key("k", VT::kArray).u32(8).u64(1).str("hello"),
       StatusCode::kOutOfRange, "h.gguf: key \"k\"[0]: expected a length of at most 4 bytes, found 5", small},
      {"bool array element not 0/1", header(0, 1).key("k", VT::kArray).u32(7).u64(3).u8(1).u8(0).u8(255),
       StatusCode::kCorrupt, "h.gguf: key \"k\"[2]: expected a bool 0 or 1, found 255"},
  };
  for (const Reject& c : cases) expect_rejected(c);
}

TEST(GgufReject, UnprintableNamesAreEscaped) {
  auto f = GgufFile::parse(header(0, 2).kv_u32("a\n\xff", 1).kv_u32("a\n\xff", 1).span(), "h.gguf");
  ASSERT_FALSE(f.has_value());
  EXPECT_NE(f.status().message().find("key \"a\\x0a\\xff\": expected a unique key"), std::string::npos)
      << f.status().message();
}

TEST(GgufReject, InvalidUtf8IsAccepted) {
  auto b = header(0, 2).kv_str("\xc3\x28", "\xff\xfe\xfd");
  b.key("arr", VT::kArray).u32(8).u64(2).str("\x80").str("\xed\xa0\x80");
  auto f = GgufFile::parse(b.span(), "h.gguf");
  ASSERT_TRUE(f.has_value()) << f.status().message();
  EXPECT_EQ(*(*f)->find("\xc3\x28")->as_string(), "\xff\xfe\xfd");
  EXPECT_EQ((*f)->find("arr")->string_at(1), "\xed\xa0\x80");
}

TEST(GgufReject, Alignment) {
  const Reject cases[] = {
      {"alignment wrong type", header(0, 1).key("general.alignment", VT::kUint64).u64(32), StatusCode::kCorrupt,
       "h.gguf: key \"general.alignment\": expected type uint32, found uint64"},
      {"alignment not a power of two", header(0, 1).kv_u32("general.alignment", 24), StatusCode::kCorrupt,
       "h.gguf: key \"general.alignment\": expected a power of two, found 24"},
      {"alignment zero", header(0, 1).kv_u32("general.alignment", 0), StatusCode::kCorrupt,
       "h.gguf: key \"general.alignment\": expected a power of two, found 0"},
      {"offset not a multiple of the alignment", header(1, 0).tensor("t", {8}, kF32, 16).pad().zeros(64),
       StatusCode::kCorrupt, "h.gguf: tensor \"t\": offset: expected a multiple of the alignment 32, found 16"},
      {"offset not a multiple of a custom alignment",
       header(1, 1).kv_u32("general.alignment", 64).tensor("t", {8}, kF32, 32).pad(64).zeros(128),
       StatusCode::kCorrupt, "h.gguf: tensor \"t\": offset: expected a multiple of the alignment 64, found 32"},
      // With general.alignment 1 an f32 tensor could start at an odd address: kernels read floats in place.
      {"f32 data at an odd file offset",
       header(2, 1).kv_u32("general.alignment", 1).tensor("a", {3}, 24, 0).tensor("b", {1}, kF32, 3).zeros(16),
       StatusCode::kCorrupt, "h.gguf: tensor \"b\": data: expected a file offset that is a multiple of 4 for f32"},
  };
  for (const Reject& c : cases) expect_rejected(c);
  // A custom alignment moves the data section and is honoured.
  auto ok = header(1, 1).kv_u32("general.alignment", 64).tensor("t", {8}, kF32, 0);
  const size_t info_end = ok.bytes.size();
  ok.pad(64).zeros(32);
  auto f = GgufFile::parse(ok.span(), "h.gguf");
  ASSERT_TRUE(f.has_value()) << f.status().message();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset(), (info_end + 63) / 64 * 64);
}

TEST(GgufReject, TensorInfos) {
  Limits small;
  small.max_tensor_name_len = 4;
  small.max_dim = 100;
  const uint64_t big = 1ull << 32;
  const Reject cases[] = {
      {"name over limit", header(1, 0).tensor("abcde", {8}, kF32, 0).pad().zeros(32), StatusCode::kOutOfRange,
       "h.gguf: tensor 0 name: expected a length of at most 4 bytes, found 5", small},
      {"name over the spec's 64 bytes", header(1, 0).tensor(std::string(65, 'x'), {8}, kF32, 0).pad().zeros(32),
       StatusCode::kOutOfRange, "h.gguf: tensor 0 name: expected a length of at most 64 bytes, found 65"},
      {"duplicate tensor name", header(2, 0).tensor("w", {8}, kF32, 0).tensor("w", {8}, kF32, 32).pad().zeros(64),
       StatusCode::kCorrupt, "h.gguf: tensor \"w\": expected a unique tensor name, found it again at tensor 1 (first at tensor 0)"},
      {"n_dims 0", header(1, 0).str("t").u32(0).u32(kF32).u64(0).zeros(64), StatusCode::kCorrupt,
       "h.gguf: tensor \"t\": n_dims: expected 1..4, found 0"},
      {"n_dims 5", header(1, 0).tensor("t", {1, 1, 1, 1, 1}, kF32, 0).pad().zeros(32), StatusCode::kCorrupt,
       "h.gguf: tensor \"t\": n_dims: expected 1..4, found 5"},
      {"ne 0", header(1, 0).tensor("t", {8, 0}, kF32, 0).pad().zeros(32), StatusCode::kCorrupt,
       "h.gguf: tensor \"t\": ne[1]: expected 1..4294967296, found 0"},
      {"ne over limit", header(1, 0).tensor("t", {101}, kF32, 0).pad().zeros(512), StatusCode::kCorrupt,
       "h.gguf: tensor \"t\": ne[0]: expected 1..100, found 101", small},
      {"ne negative as int64", header(1, 0).tensor("t", {~0ull}, kF32, 0).pad().zeros(32), StatusCode::kCorrupt,
       "h.gguf: tensor \"t\": ne[0]: expected 1..4294967296, found 18446744073709551615"},
      {"element count overflow", header(1, 0).tensor("t", {big, big}, kF32, 0).pad().zeros(32),
       StatusCode::kCorrupt, "h.gguf: tensor \"t\": expected an element count below 2^63, found shape {4294967296, 4294967296}"},
      {"element count overflow at 2^63", header(1, 0).tensor("t", {big, big / 2}, kF32, 0).pad().zeros(32),
       StatusCode::kCorrupt, "h.gguf: tensor \"t\": expected an element count below 2^63"},
      {"byte size overflow", header(1, 0).tensor("t", {1ull << 31, 1ull << 31}, kF64, 0).pad().zeros(32),
       StatusCode::kCorrupt, "h.gguf: tensor \"t\": expected a byte size below 2^64, found shape {2147483648, 2147483648} of f64"},
      {"unknown type id", header(1, 0).tensor("t", {8}, 77, 0).pad().zeros(32), StatusCode::kUnsupported,
       "h.gguf: tensor \"t\": type: expected a known ggml type id, found 77"},
      {"removed type id", header(1, 0).tensor("t", {32}, 4, 0).pad().zeros(32), StatusCode::kUnsupported,
       "h.gguf: tensor \"t\": type: expected a known ggml type id, found 4"},
      {"row not a multiple of the block", header(1, 0).tensor("t", {48, 2}, kQ4_0, 0).pad().zeros(64),
       StatusCode::kCorrupt, "h.gguf: tensor \"t\": ne[0]: expected a multiple of the q4_0 block size 32, found 48"},
      {"info truncated", header(1, 0).str("t").u32(4).u64(8).u64(8).u64(8), StatusCode::kCorrupt,
       "h.gguf: tensor \"t\": ne[3]: expected 8 bytes at offset 61, found 0 before the end of the file"},
  };
  for (const Reject& c : cases) expect_rejected(c);
}

TEST(GgufReject, TensorData) {
  const Reject cases[] = {
      {"data past the end", header(1, 0).tensor("t", {16}, kF32, 0).pad().zeros(60), StatusCode::kCorrupt,
       "h.gguf: tensor \"t\": data: expected 64 bytes at data offset 0 inside the file (data starts at 64), found a "
       "file of 124 bytes"},
      {"offset past the end", header(1, 0).tensor("t", {8}, kF32, 1024).pad().zeros(64), StatusCode::kCorrupt,
       "h.gguf: tensor \"t\": data: expected 32 bytes at data offset 1024 inside the file"},
      {"offset + size overflows", header(1, 0).tensor("t", {8}, kF32, ~0ull << 5).pad().zeros(64),
       StatusCode::kCorrupt, "h.gguf: tensor \"t\": data: expected 32 bytes at data offset 18446744073709551584"},
      {"overlapping tensors", header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {8}, kF32, 32).pad().zeros(64),
       StatusCode::kCorrupt,
       "h.gguf: tensor \"b\": data: expected no overlap with tensor \"a\" (data bytes 0..64), found data bytes 32..64"},
      {"same offset", header(2, 0).tensor("a", {8}, kF32, 0).tensor("b", {8}, kF32, 0).pad().zeros(64),
       StatusCode::kCorrupt, "h.gguf: tensor \"b\": data: expected no overlap with tensor \"a\""},
      {"overlap out of order", header(2, 0).tensor("late", {8}, kF32, 64).tensor("early", {24}, kF32, 0).pad().zeros(128),
       StatusCode::kCorrupt,
       "h.gguf: tensor \"late\": data: expected no overlap with tensor \"early\" (data bytes 0..96), found data bytes 64..96"},
  };
  for (const Reject& c : cases) expect_rejected(c);
}

TEST(GgufReject, OpenMissingFile) {
  auto f = GgufFile::open("/nonexistent/m.gguf");
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("/nonexistent/m.gguf"), std::string::npos);
}

}  // namespace
}  // namespace mnemo::gguf
