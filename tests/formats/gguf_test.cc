// GGUF writer and reader: round trips of every value and tensor type, determinism, alignment,
// atomic writes.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <dirent.h>
#include <filesystem>
#include <limits>
#include <random>

#include "base/file.h"
#include "formats/gguf.h"
#include "formats/gguf_bytes.h"
#include "test_util.h"

namespace mnemo::gguf {
namespace {

using test::GgufBytes;

std::unique_ptr<GgufFile> parse_ok(std::span<const uint8_t> bytes, const std::string& name = "t.gguf") {
  auto f = GgufFile::parse(bytes, name);
  EXPECT_TRUE(f.has_value()) << f.status().message();
  if (!f.has_value()) return nullptr;
  return std::move(f).value();
}

std::vector<uint8_t> to_bytes(const GgufWriter& w) {
  auto b = w.to_bytes();
  EXPECT_TRUE(b.has_value()) << b.status().message();
  return b.has_value() ? std::move(b).value() : std::vector<uint8_t>();
}

std::vector<uint8_t> read_all(const std::string& path) {
  auto s = read_file(path);
  EXPECT_TRUE(s.has_value()) << s.status().message();
  if (!s.has_value()) return {};
  return std::vector<uint8_t>(s->begin(), s->end());
}

TEST(GgufValue, ScalarRoundTripEveryType) {
  GgufWriter w;
  w.set("u8", Value::u8(250));
  w.set("i8", Value::i8(-120));
  w.set("u16", Value::u16(65000));
  w.set("i16", Value::i16(-32000));
  w.set("u32", Value::u32(4000000000u));
  w.set("i32", Value::i32(-2000000000));
  w.set("u64", Value::u64(std::numeric_limits<uint64_t>::max()));
  w.set("i64", Value::i64(std::numeric_limits<int64_t>::min()));
  w.set("f32", Value::f32(1e-5f));
  w.set("f64", Value::f64(-3.141592653589793));
  w.set("bool_t", Value::boolean(true));
  w.set("bool_f", Value::boolean(false));
  w.set("str", Value::string("hello"));
  w.set("str_empty", Value::string(""));
  w.set("str_bytes", Value::string(std::string("\xff\xfe\x00z", 4)));  // invalid UTF-8 and a NUL: just bytes
  auto bytes = to_bytes(w);
  auto f = parse_ok(bytes);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->metadata().size(), 15u);
  EXPECT_EQ(f->metadata()[0].first, "u8");
  EXPECT_EQ(f->metadata()[14].first, "str_bytes");

  struct Expect {
    const char* key;
    ValueType type;
  };
  const Expect types[] = {{"u8", ValueType::kUint8},     {"i8", ValueType::kInt8},
                          {"u16", ValueType::kUint16},   {"i16", ValueType::kInt16},
                          {"u32", ValueType::kUint32},   {"i32", ValueType::kInt32},
                          {"u64", ValueType::kUint64},   {"i64", ValueType::kInt64},
                          {"f32", ValueType::kFloat32},  {"f64", ValueType::kFloat64},
                          {"bool_t", ValueType::kBool},  {"str", ValueType::kString}};
  for (const Expect& e : types) {
    const Value* v = f->find(e.key);
    ASSERT_NE(v, nullptr) << e.key;
    EXPECT_EQ(v->type(), e.type) << e.key;
    EXPECT_FALSE(v->is_array());
  }
  EXPECT_EQ(*f->find("u8")->as_u64(), 250u);
  EXPECT_EQ(*f->find("i8")->as_i64(), -120);
  EXPECT_EQ(*f->find("u16")->as_u64(), 65000u);
  EXPECT_EQ(*f->find("i16")->as_i64(), -32000);
  EXPECT_EQ(*f->find("u32")->as_u64(), 4000000000u);
  EXPECT_EQ(*f->find("i32")->as_i64(), -2000000000);
  EXPECT_EQ(*f->find("u64")->as_u64(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*f->find("i64")->as_i64(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*f->find("f32")->as_f64(), static_cast<double>(1e-5f));
  EXPECT_EQ(*f->find("f64")->as_f64(), -3.141592653589793);
  EXPECT_EQ(*f->find("bool_t")->as_bool(), true);
  EXPECT_EQ(*f->find("bool_f")->as_bool(), false);
  EXPECT_EQ(*f->find("str")->as_string(), "hello");
  EXPECT_EQ(*f->find("str_empty")->as_string(), "");
  EXPECT_EQ(*f->find("str_bytes")->as_string(), std::string_view("\xff\xfe\x00z", 4));
  EXPECT_EQ(f->find("missing"), nullptr);
}

// Floats keep their bits: a signalling NaN's payload survives reading and rewriting.
TEST(GgufValue, FloatBitsSurviveRewrite) {
  GgufBytes b;
  b.header(0, 2).key("f", ValueType::kFloat32).u32(0x7fa00001u).key("d", ValueType::kFloat64).u64(0x7ff0000000000123ull);
  auto f = parse_ok(b.span());
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(std::isnan(*f->find("f")->as_f64()));
  GgufWriter w;
  for (const auto& [k, v] : f->metadata()) w.set(k, v);
  b.pad();  // the writer pads the end of the infos to the alignment even without tensors
  EXPECT_EQ(to_bytes(w), b.bytes);
}

TEST(GgufValue, Conversions) {
  EXPECT_EQ(*Value::u8(7).as_i64(), 7);
  EXPECT_EQ(*Value::i32(7).as_u64(), 7u);
  EXPECT_FALSE(Value::i32(-1).as_u64().has_value());
  EXPECT_FALSE(Value::u64(std::numeric_limits<uint64_t>::max()).as_i64().has_value());
  EXPECT_EQ(*Value::i16(-3).as_f64(), -3.0);
  EXPECT_FALSE(Value::f32(1.0f).as_u64().has_value());
  EXPECT_FALSE(Value::f32(1.0f).as_i64().has_value());
  EXPECT_FALSE(Value::boolean(true).as_u64().has_value());
  EXPECT_FALSE(Value::u8(1).as_bool().has_value());
  EXPECT_FALSE(Value::u8(1).as_string().has_value());
  EXPECT_FALSE(Value::string("1").as_u64().has_value());
  EXPECT_FALSE(Value::string("1").as_f64().has_value());
  EXPECT_FALSE(Value::i32_array({1}).as_i64().has_value());
  EXPECT_EQ(value_type_name(ValueType::kFloat64), std::string("float64"));
  EXPECT_EQ(value_type_name(static_cast<ValueType>(99)), std::string("unknown"));
  EXPECT_EQ(value_type_size(ValueType::kInt16), 2u);
  EXPECT_EQ(value_type_size(ValueType::kString), 0u);
}

TEST(GgufValue, ArrayRoundTripEveryType) {
  GgufWriter w;
  w.set("u8", Value::u8_array({0, 1, 255}));
  w.set("i8", Value::i8_array({-128, 0, 127}));
  w.set("u16", Value::u16_array({0, 65535}));
  w.set("i16", Value::i16_array({-32768, 32767}));
  w.set("u32", Value::u32_array({0, 4294967295u}));
  w.set("i32", Value::i32_array({-2147483647 - 1, 2147483647, 5}));
  w.set("u64", Value::u64_array({0, std::numeric_limits<uint64_t>::max()}));
  w.set("i64", Value::i64_array({std::numeric_limits<int64_t>::min(), 3}));
  w.set("f32", Value::f32_array({0.5f, -1.25f, std::numeric_limits<float>::infinity()}));
  w.set("f64", Value::f64_array({1e300, -2.5}));
  w.set("bool", Value::bool_array({true, false, true}));
  w.set("str", Value::string_array({"a", "", std::string("\x80\x00", 2), "longer string"}));
  w.set("empty_f32", Value::f32_array({}));
  w.set("empty_str", Value::string_array({}));
  auto bytes = to_bytes(w);
  auto f = parse_ok(bytes);
  ASSERT_NE(f, nullptr);

  auto arr = [&](const char* key, ValueType elem, uint64_t n) -> const Value& {
    const Value* v = f->find(key);
    EXPECT_NE(v, nullptr) << key;
    EXPECT_EQ(v->type(), ValueType::kArray) << key;
    EXPECT_EQ(v->array_type(), elem) << key;
    EXPECT_EQ(v->array_size(), n) << key;
    return *v;
  };
  const Value& u8 = arr("u8", ValueType::kUint8, 3);
  EXPECT_EQ(u8.int_at(2), 255);
  EXPECT_EQ(u8.number_at(1), 1.0);
  const Value& i8 = arr("i8", ValueType::kInt8, 3);
  EXPECT_EQ(i8.int_at(0), -128);
  EXPECT_EQ(i8.int_at(2), 127);
  EXPECT_EQ(arr("u16", ValueType::kUint16, 2).int_at(1), 65535);
  EXPECT_EQ(arr("i16", ValueType::kInt16, 2).int_at(0), -32768);
  EXPECT_EQ(arr("u32", ValueType::kUint32, 2).int_at(1), 4294967295ll);
  const Value& i32 = arr("i32", ValueType::kInt32, 3);
  EXPECT_EQ(i32.int_at(0), -2147483648ll);
  EXPECT_EQ(i32.int_at(1), 2147483647);
  EXPECT_EQ(i32.number_at(2), 5.0);
  const Value& u64 = arr("u64", ValueType::kUint64, 2);
  EXPECT_EQ(u64.int_at(1), std::numeric_limits<int64_t>::max());  // saturates
  EXPECT_EQ(u64.number_at(1), 18446744073709551615.0);
  EXPECT_EQ(arr("i64", ValueType::kInt64, 2).int_at(0), std::numeric_limits<int64_t>::min());
  const Value& f32 = arr("f32", ValueType::kFloat32, 3);
  EXPECT_EQ(f32.number_at(0), 0.5);
  EXPECT_EQ(f32.number_at(1), -1.25);
  EXPECT_TRUE(std::isinf(f32.number_at(2)));
  EXPECT_EQ(f32.int_at(1), -1);  // truncates toward zero
  EXPECT_EQ(f32.int_at(2), std::numeric_limits<int64_t>::max());
  float raw[3];
  ASSERT_EQ(f32.array_bytes().size(), sizeof(raw));
  std::memcpy(raw, f32.array_bytes().data(), sizeof(raw));
  EXPECT_EQ(raw[1], -1.25f);
  EXPECT_EQ(arr("f64", ValueType::kFloat64, 2).number_at(0), 1e300);
  const Value& b = arr("bool", ValueType::kBool, 3);
  EXPECT_EQ(b.int_at(0), 1);
  EXPECT_EQ(b.int_at(1), 0);
  const Value& s = arr("str", ValueType::kString, 4);
  EXPECT_EQ(s.string_at(0), "a");
  EXPECT_EQ(s.string_at(1), "");
  EXPECT_EQ(s.string_at(2), std::string_view("\x80\x00", 2));
  EXPECT_EQ(s.strings()[3], "longer string");
  EXPECT_TRUE(s.array_bytes().empty());
  EXPECT_TRUE(f32.strings().empty());
  // Views point into the parsed bytes, not into copies.
  EXPECT_GE(reinterpret_cast<const uint8_t*>(s.string_at(3).data()), bytes.data());
  EXPECT_LT(reinterpret_cast<const uint8_t*>(s.string_at(3).data()), bytes.data() + bytes.size());
  EXPECT_EQ(arr("empty_f32", ValueType::kFloat32, 0).array_bytes().size(), 0u);
  EXPECT_EQ(arr("empty_str", ValueType::kString, 0).strings().size(), 0u);
}

TEST(GgufValue, BuilderArraysAreReadableBeforeWriting) {
  Value v = Value::i32_array({3, -4});
  EXPECT_EQ(v.int_at(1), -4);
  Value s = Value::string_array({"x", "yz"});
  EXPECT_EQ(s.string_at(1), "yz");
  Value copy = s;  // copies share the owned strings
  s = Value::u8(0);
  EXPECT_EQ(copy.string_at(0), "x");
}

TEST(GgufValue, LargeStringArrayIsViews) {
  constexpr size_t kN = 40000;
  std::vector<std::string> tokens(kN);
  for (size_t i = 0; i < kN; ++i) tokens[i] = "tok" + std::to_string(i);
  GgufWriter w;
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  auto bytes = to_bytes(w);
  auto f = parse_ok(bytes);
  ASSERT_NE(f, nullptr);
  const Value* v = f->find("tokenizer.ggml.tokens");
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->array_size(), kN);
  for (size_t i = 0; i < kN; i += 997) EXPECT_EQ(v->string_at(i), tokens[i]);
  EXPECT_EQ(v->string_at(kN - 1), tokens[kN - 1]);
}

TEST(GgufFile, TypedGetters) {
  GgufWriter w;
  w.set("n", Value::u32(12));
  w.set("neg", Value::i32(-3));
  w.set("eps", Value::f32(1e-6f));
  w.set("name", Value::string("mini"));
  w.set("flag", Value::boolean(true));
  auto bytes = to_bytes(w);
  auto f = parse_ok(bytes, "g.gguf");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->get_u64("n"), 12u);
  EXPECT_EQ(*f->get_f64("n"), 12.0);
  EXPECT_NEAR(*f->get_f64("eps"), 1e-6, 1e-12);
  EXPECT_EQ(*f->get_string("name"), "mini");
  EXPECT_EQ(*f->get_u64_or("absent", 7), 7u);
  EXPECT_EQ(*f->get_u64_or("n", 7), 12u);
  EXPECT_EQ(*f->get_f64_or("absent", 0.5), 0.5);
  EXPECT_EQ(*f->get_bool_or("flag", false), true);
  EXPECT_EQ(*f->get_bool_or("absent", false), false);

  auto missing = f->get_u64("absent");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "g.gguf: key \"absent\": expected an unsigned integer, found no such key");
  auto neg = f->get_u64("neg");
  ASSERT_FALSE(neg.has_value());
  EXPECT_EQ(neg.status().message(), "g.gguf: key \"neg\": expected a non-negative integer, found int32 -3");
  auto str_as_num = f->get_f64_or("name", 1.0);  // present with the wrong type: still an error
  ASSERT_FALSE(str_as_num.has_value());
  EXPECT_EQ(str_as_num.status().message(), "g.gguf: key \"name\": expected a number, found string");
  auto num_as_str = f->get_string("n");
  ASSERT_FALSE(num_as_str.has_value());
  EXPECT_EQ(num_as_str.status().message(), "g.gguf: key \"n\": expected a string, found uint32 12");
  auto bool_wrong = f->get_bool_or("n", false);
  ASSERT_FALSE(bool_wrong.has_value());
  EXPECT_EQ(bool_wrong.status().code(), StatusCode::kCorrupt);
}

// Tensors of several types and ranks, with recognisable bytes.
struct TestTensor {
  std::string name;
  DType type;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

std::vector<TestTensor> test_tensors() {
  std::vector<TestTensor> ts = {
      {"f32_vec", DType::F32, {7}, {}},
      {"f16_mat", DType::F16, {6, 3}, {}},
      {"q8_0_mat", DType::Q8_0, {64, 3}, {}},
      {"q4_0_3d", DType::Q4_0, {32, 2, 3}, {}},
      {"q4_k_mat", DType::Q4_K, {256, 2}, {}},
      {"bf16_4d", DType::BF16, {2, 3, 1, 2}, {}},
      {"i8_vec", DType::I8, {5}, {}},
      {"f64_vec", DType::F64, {3}, {}},
  };
  uint8_t k = 1;
  for (TestTensor& t : ts) {
    uint64_t rows = 1;
    for (size_t d = 1; d < t.shape.size(); ++d) rows *= static_cast<uint64_t>(t.shape[d]);
    t.data.resize(*row_bytes(t.type, static_cast<uint64_t>(t.shape[0])) * rows);
    for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<uint8_t>(k * 31 + i);
    ++k;
  }
  return ts;
}

GgufWriter writer_with(const std::vector<TestTensor>& ts, uint64_t alignment = 32) {
  GgufWriter w(alignment);
  w.set("general.architecture", Value::string("llama"));
  w.set("tokenizer.ggml.scores", Value::f32_array({0.0f, -1.0f}));
  for (const TestTensor& t : ts) {
    EXPECT_TRUE(w.add_tensor(t.name, t.type, t.shape, t.data.data()).is_ok()) << t.name;
  }
  return w;
}

TEST(GgufFile, TensorsRoundTrip) {
  const auto ts = test_tensors();
  auto bytes = to_bytes(writer_with(ts));
  auto f = parse_ok(bytes);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->find("general.alignment"), nullptr);  // the default is not written
  EXPECT_EQ(f->data_offset() % 32, 0u);
  ASSERT_EQ(f->tensors().size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    const TensorInfo& info = f->tensors()[i];
    SCOPED_TRACE(ts[i].name);
    EXPECT_EQ(info.name, ts[i].name);
    EXPECT_EQ(info.type, ts[i].type);
    EXPECT_EQ(info.n_dims, static_cast<int>(ts[i].shape.size()));
    for (int d = 0; d < kMaxDims; ++d) {
      EXPECT_EQ(info.ne[d], d < info.n_dims ? ts[i].shape[static_cast<size_t>(d)] : 1);
    }
    EXPECT_EQ(info.n_bytes, ts[i].data.size());
    EXPECT_EQ(info.offset % 32, 0u);
    EXPECT_EQ(f->find_tensor(ts[i].name), &info);
    TensorView v = f->view(info);
    EXPECT_EQ(v.type, ts[i].type);
    EXPECT_EQ(v.n_bytes(), ts[i].data.size());
    ASSERT_EQ(std::memcmp(v.data, ts[i].data.data(), ts[i].data.size()), 0);
    auto tb = f->tensor_bytes(info);
    EXPECT_EQ(tb.data(), v.data);
    EXPECT_EQ(tb.size(), ts[i].data.size());
  }
  EXPECT_EQ(f->find_tensor("nope"), nullptr);
  // Packed in order, each padded to the alignment; the file ends padded.
  EXPECT_EQ(f->tensors()[0].offset, 0u);
  EXPECT_EQ(f->tensors()[1].offset, 32u);  // 28 bytes of f32, padded
  EXPECT_EQ(bytes.size() % 32, 0u);
}

TEST(GgufWriter, Deterministic) {
  const auto ts = test_tensors();
  auto a = to_bytes(writer_with(ts));
  auto b = to_bytes(writer_with(ts));
  EXPECT_EQ(a, b);
  const std::string dir = test::temp_dir();
  ASSERT_TRUE(writer_with(ts).finish(dir + "/a.gguf").is_ok());
  ASSERT_TRUE(writer_with(ts).finish(dir + "/b.gguf").is_ok());
  EXPECT_EQ(read_all(dir + "/a.gguf"), a);
  EXPECT_EQ(read_all(dir + "/b.gguf"), a);
  // Through the file reader too, mapped and read.
  for (MapMode mode : {MapMode::kMap, MapMode::kRead}) {
    auto f = GgufFile::open(dir + "/a.gguf", mode);
    ASSERT_TRUE(f.has_value()) << f.status().message();
    EXPECT_EQ((*f)->tensors().size(), ts.size());
    EXPECT_EQ((*f)->path(), dir + "/a.gguf");
  }
  std::filesystem::remove_all(dir);
}

TEST(GgufWriter, SetReplacesKeepingPosition) {
  GgufWriter w;
  w.set("a", Value::u32(1));
  w.set("b", Value::u32(2));
  w.set("a", Value::string("x"));
  auto bytes = to_bytes(w);
  auto f = parse_ok(bytes);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(*f->metadata()[0].second.as_string(), "x");
}

TEST(GgufWriter, Alignment) {
  const auto ts = test_tensors();
  auto bytes = to_bytes(writer_with(ts, 64));
  auto f = parse_ok(bytes);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->alignment(), 64u);
  const Value* a = f->find("general.alignment");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->type(), ValueType::kUint32);
  EXPECT_EQ(*a->as_u64(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  for (const TensorInfo& t : f->tensors()) EXPECT_EQ(t.offset % 64, 0u) << t.name;
  EXPECT_EQ(std::memcmp(f->view(f->tensors()[3]).data, ts[3].data.data(), ts[3].data.size()), 0);

  // An explicit general.alignment must agree with the writer's.
  GgufWriter ok(64);
  ok.set("general.alignment", Value::u32(64));
  EXPECT_TRUE(ok.to_bytes().has_value());
  GgufWriter bad(64);
  bad.set("general.alignment", Value::u32(32));
  auto r = bad.to_bytes();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().message(),
            "gguf writer: key \"general.alignment\": expected uint32 64 (the writer's alignment), found uint32 32");
  GgufWriter wrong_type;
  wrong_type.set("general.alignment", Value::u64(32));
  EXPECT_FALSE(wrong_type.to_bytes().has_value());
  for (uint64_t align : {0ull, 4ull, 24ull, 1ull << 32}) {
    auto e = GgufWriter(align).to_bytes();
    ASSERT_FALSE(e.has_value()) << align;
    EXPECT_EQ(e.status().message(),
              "gguf writer: alignment: expected a power of two in 8..2^31, found " + std::to_string(align));
  }
}

TEST(GgufWriter, RejectsBadTensors) {
  GgufWriter w;
  float data[64] = {};
  const int64_t v4[1] = {4};
  EXPECT_TRUE(w.add_tensor("x", DType::F32, v4, data).is_ok());
  struct Case {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    const char* message;
  };
  const Case cases[] = {
      {"x", DType::F32, {4}, data, "tensor \"x\": expected a unique tensor name, found it added twice"},
      {"", DType::F32, {4}, data, "tensor \"\": expected a name of 1..63 bytes, found 0"},
      {std::string(64, 'n'), DType::F32, {4}, data, "expected a name of 1..63 bytes, found 64"},
      {"s", DType::F32, {}, data, "tensor \"s\": expected 1..4 dimensions, found 0"},
      {"s", DType::F32, {1, 1, 1, 1, 1}, data, "tensor \"s\": expected 1..4 dimensions, found 5"},
      {"z", DType::F32, {4, 0}, data, "tensor \"z\": ne[1]: expected >= 1, found 0"},
      {"q", DType::Q4_0, {48}, data, "tensor \"q\": ne[0]: expected a multiple of the q4_0 block size 32, found 48"},
      {"o", DType::F32, {1ll << 40, 1ll << 40}, data, "tensor \"o\": expected an element count below 2^63"},
      {"u", static_cast<DType>(4), {4}, data, "tensor \"u\": expected a known type, found id 4"},
      {"n", DType::F32, {4}, nullptr, "tensor \"n\": expected data, found a null pointer"},
  };
  for (const Case& c : cases) {
    Status s = w.add_tensor(c.name, c.type, c.shape, c.data);
    ASSERT_FALSE(s.is_ok()) << c.message;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
  }
  GgufWriter k;
  k.set("", Value::u8(0));
  auto e = k.to_bytes();
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.status().message(), "gguf writer: key \"\": expected a key of 1..65535 bytes, found 0");
}

// Copying a parsed file's metadata and tensors into a new writer reproduces the same bytes.
TEST(GgufWriter, RewriteFromReaderIsIdentical) {
  const auto ts = test_tensors();
  auto first = to_bytes(writer_with(ts, 64));
  auto f = parse_ok(first);
  ASSERT_NE(f, nullptr);
  GgufWriter w(f->alignment());
  for (const auto& [key, value] : f->metadata()) w.set(key, value);
  for (const TensorInfo& t : f->tensors()) {
    ASSERT_TRUE(w.add_tensor(t.name, t.type, std::span<const int64_t>(t.ne, static_cast<size_t>(t.n_dims)),
                             f->view(t).data)
                    .is_ok());
  }
  EXPECT_EQ(to_bytes(w), first);
}

TEST(GgufFile, ReadsVersion2) {
  auto bytes = to_bytes(writer_with(test_tensors()));
  bytes[4] = 2;  // v2 and v3 share the layout (v3 only allows big-endian files)
  auto f = parse_ok(bytes);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->tensors().size(), test_tensors().size());
}

TEST(GgufFile, HandBuiltMinimalFiles) {
  // No key/values, no tensors: just the header.
  GgufBytes empty;
  empty.header(0, 0);
  auto f = parse_ok(empty.span());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->tensors().size(), 0u);
  EXPECT_EQ(f->data_offset(), 24u);  // not padded past the end of a tensorless file
  // Two tensors out of file order, with a gap: allowed.
  GgufBytes b;
  b.header(2, 0).tensor("late", {8}, 0, 64).tensor("early", {8}, 0, 0).pad().zeros(96);
  auto g = parse_ok(b.span());
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->tensors()[0].name, "late");
  EXPECT_EQ(g->view(g->tensors()[0]).data, b.bytes.data() + g->data_offset() + 64);
}

TEST(GgufWriter, FinishIsAtomic) {
  const std::string dir = test::temp_dir();
  const auto ts = test_tensors();
  // A directory that does not exist: an error naming the path, nothing created.
  Status s = writer_with(ts).finish(dir + "/no/such/dir/m.gguf");
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find(dir + "/no/such/dir/m.gguf"), std::string::npos) << s.message();

  // A write that fails part-way (file size limit) leaves the old file and no temporary.
  const std::string path = dir + "/m.gguf";
  ASSERT_TRUE(write_file_atomic(path, std::string("old contents")).is_ok());
  std::vector<uint8_t> big(3u << 20, 0x5a);  // more than AtomicFileWriter buffers
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {1u << 20, 1u << 20};
    setrlimit(RLIMIT_FSIZE, &lim);
    GgufWriter w;
    const int64_t shape[1] = {static_cast<int64_t>(big.size() / 4)};
    if (!w.add_tensor("big", DType::F32, shape, big.data()).is_ok()) _exit(2);
    Status st = w.finish(path);
    _exit(st.is_ok() ? 0 : (st.message().find("write failed") != std::string::npos ? 1 : 3));
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 1);  // the write failed, with the file's message
  EXPECT_EQ(read_all(path), std::vector<uint8_t>({'o', 'l', 'd', ' ', 'c', 'o', 'n', 't', 'e', 'n', 't', 's'}));
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "m.gguf");
  }
  EXPECT_EQ(entries, 1);
  std::filesystem::remove_all(dir);
}

// Random corruptions of a valid file: the reader returns (ok or an error naming the file), never
// crashes; run under the asan preset this also checks every read stays in bounds.
TEST(GgufFile, RandomCorruptionsNeverCrash) {
  const uint64_t seed = test::test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (MNEMO_TEST_SEED replays)");
  std::mt19937_64 rng(seed);
  auto good = to_bytes(writer_with(test_tensors()));
  for (size_t len = 0; len < good.size(); len += 7) {
    std::vector<uint8_t> prefix(good.begin(), good.begin() + static_cast<long>(len));
    auto f = GgufFile::parse(prefix, "p.gguf");
    if (!f.has_value()) {
      EXPECT_EQ(f.status().message().rfind("p.gguf: ", 0), 0u) << f.status().message();
    }
  }
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      size_t pos = rng() % b.size();
      if (rng() % 2) {
        b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
      } else {
        b[pos] = static_cast<uint8_t>(rng());
      }
    }
    auto f = GgufFile::parse(b, "r.gguf");
    if (!f.has_value()) {
      EXPECT_EQ(f.status().message().rfind("r.gguf: ", 0), 0u) << f.status().message();
      continue;
    }
    ++accepted;
    uint64_t sum = 0;
    for (const auto& [k, v] : (*f)->metadata()) {
      for (uint64_t i = 0; i < v.array_size(); ++i) {
        sum += v.array_type() == ValueType::kString ? v.string_at(i).size() : static_cast<uint64_t>(v.int_at(i));
      }
    }
    for (const TensorInfo& t : (*f)->tensors()) {
      for (uint8_t x : (*f)->tensor_bytes(t)) sum += x;
    }
    (void)sum;
  }
  EXPECT_GT(accepted, 0);  // flips in tensor data and padding leave the file valid
}

}  // namespace
}  // namespace mnemo::gguf
