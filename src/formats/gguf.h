// formats/gguf.h: the GGUF container (versions 2 and 3), read over a mapping and written
// deterministically. Spec: ggml/docs/gguf.md.
//
// File layout: magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv | n_kv key/values |
// n_tensors tensor infos (name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset) | padding to
// general.alignment (default 32) | tensor data, each tensor at data_start + offset.
// A key/value is: string key | u32 value type | value. A string is u64 length | bytes (not
// NUL-terminated, any bytes). An array is u32 element type | u64 count | elements.
// Everything is little-endian (big-endian GGUF files are rejected).
//
// The reader treats the file as hostile: every length and count is checked against the bytes that
// remain, every size computation against overflow, type ids against the known set, dimensions
// against limits. Strings and tensor data are views into the mapping: a GgufFile must outlive
// every view it hands out (and every Value copied out of it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/file.h"
#include "mnemo/status.h"
#include "tensor/tensor.h"

namespace mnemo::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint32", "string", ...; "unknown" for ids outside the enum.
const char* value_type_name(ValueType t);
// Bytes of one stored element of a fixed-size type; 0 for kString and kArray (and unknown ids).
uint32_t value_type_size(ValueType t);

inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";

// One metadata value. Scalars are held widened; strings and arrays are views into the file
// (or, for values built in memory for the writer, into `owned_`). Copies are cheap except for
// string arrays (one string_view per element) and share what they view.
class Value {
 public:
  ValueType type() const { return type_; }
  // For arrays: the element type and count. Nested arrays are rejected by the reader.
  ValueType array_type() const { return array_type_; }
  uint64_t array_size() const { return array_size_; }
  bool is_array() const { return type_ == ValueType::kArray; }

  // Typed access; nullopt when the stored type does not convert without loss
  // (any integer type converts to a wider or equal integer when the value fits).
  std::optional<uint64_t> as_u64() const;
  std::optional<int64_t> as_i64() const;
  std::optional<double> as_f64() const;  // float32/float64 and integers
  std::optional<bool> as_bool() const;
  std::optional<std::string_view> as_string() const;

  // Array element access. `i` must be < array_size() (checked in debug builds; out of range, or
  // the wrong element kind, gives "" or 0 in release builds, never a read out of bounds).
  std::string_view string_at(uint64_t i) const;
  double number_at(uint64_t i) const;  // numeric or bool element, widened
  // Integer or bool element; u64 values above INT64_MAX saturate; floats truncate toward zero
  // (saturating, NaN gives 0).
  int64_t int_at(uint64_t i) const;

  // Bulk access for large arrays (vocabularies): every element of a string array as views, and
  // the raw little-endian bytes of a fixed-size array (array_size() * value_type_size(array_type());
  // not aligned: read with memcpy). Empty for the other kind.
  const std::vector<std::string_view>& strings() const { return strings_; }
  std::span<const uint8_t> array_bytes() const;

  // Builders for the writer, one per stored type.
  static Value u8(uint8_t v);
  static Value i8(int8_t v);
  static Value u16(uint16_t v);
  static Value i16(int16_t v);
  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value i64(int64_t v);
  static Value f32(float v);
  static Value f64(double v);
  static Value boolean(bool v);
  static Value string(std::string v);
  static Value string_array(std::vector<std::string> v);
  static Value u8_array(std::vector<uint8_t> v);
  static Value i8_array(std::vector<int8_t> v);
  static Value u16_array(std::vector<uint16_t> v);
  static Value i16_array(std::vector<int16_t> v);
  static Value u32_array(std::vector<uint32_t> v);
  static Value i32_array(std::vector<int32_t> v);
  static Value u64_array(std::vector<uint64_t> v);
  static Value i64_array(std::vector<int64_t> v);
  static Value f32_array(std::vector<float> v);
  static Value f64_array(std::vector<double> v);
  static Value bool_array(std::vector<bool> v);

 private:
  friend class GgufFile;
  friend class GgufWriter;
  friend struct ValueAccess;
  static Value scalar_u(ValueType t, uint64_t v);
  static Value scalar_i(ValueType t, int64_t v);
  static Value scalar_f(ValueType t, double v, uint64_t bits);
  static Value fixed_array(ValueType elem, const void* data, size_t n);  // n elements of elem

  ValueType type_ = ValueType::kUint8;
  ValueType array_type_ = ValueType::kUint8;
  uint64_t array_size_ = 0;
  uint64_t u_ = 0;   // unsigned integers and bool; for floats, their stored bits (exact rewrites)
  int64_t i_ = 0;    // signed integers
  double f_ = 0.0;   // floats
  std::string_view str_;                    // kString
  const uint8_t* array_data_ = nullptr;     // kArray of fixed-size elements (little-endian)
  std::vector<std::string_view> strings_;   // kArray of strings
  std::shared_ptr<void> owned_;             // keeps in-memory builder data alive
};

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  int64_t ne[kMaxDims] = {1, 1, 1, 1};
  uint64_t offset = 0;  // relative to the start of the data section
  uint64_t n_bytes = 0;
};

// Bounds on what a file may declare, beyond what its size allows.
struct Limits {
  uint64_t max_string_len = 1ull << 24;  // any string value or array element
  uint64_t max_array_len = 1ull << 26;
  uint64_t max_kv = 1ull << 16;
  uint64_t max_tensors = 1ull << 16;
  int64_t max_dim = 1ll << 32;           // each ne[i]
  uint64_t max_key_len = 65535;          // the spec's bound
  uint64_t max_tensor_name_len = 64;     // the spec's bound (ggml itself takes at most 63)
};

class GgufFile {
 public:
  // Opens and validates a GGUF file. Errors name the file and the field:
  // "m.gguf: tensor \"blk.0.attn_q.weight\": type: expected a known ggml type id, found 77".
  static Expected<std::unique_ptr<GgufFile>> open(const std::string& path, MapMode mode = MapMode::kMap,
                                                  const Limits& limits = Limits());
  // Parses bytes already in memory (fuzzing, tests). `name` is used in messages; the bytes must
  // outlive the GgufFile.
  static Expected<std::unique_ptr<GgufFile>> parse(std::span<const uint8_t> bytes, const std::string& name,
                                                   const Limits& limits = Limits());

  const std::string& path() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;

  // Typed getters for model loaders; errors name the file and the key and say what was expected.
  // A missing key is kNotFound, a wrong type or a value out of range kCorrupt.
  Expected<uint64_t> get_u64(std::string_view key) const;
  Expected<double> get_f64(std::string_view key) const;
  Expected<std::string> get_string(std::string_view key) const;
  // Same, with a default when the key is absent (a wrong type is still an error).
  Expected<uint64_t> get_u64_or(std::string_view key, uint64_t def) const;
  Expected<double> get_f64_or(std::string_view key, double def) const;
  Expected<bool> get_bool_or(std::string_view key, bool def) const;

  // Tensor infos in file order; each one's bytes lie inside the file, none overlap, and each
  // starts at a multiple of alignment() from the data section.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // A view of the stored bytes (no conversion). `info` must come from tensors() of this file.
  TensorView view(const TensorInfo& info) const;
  std::span<const uint8_t> tensor_bytes(const TensorInfo& info) const;

  // The whole file (mapping or buffer; empty for parse()).
  const FileBytes& file() const { return file_; }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  Status parse_all(const Limits& limits);

  std::string name_;
  FileBytes file_;
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Writes GGUF v3. Output is deterministic: the same calls produce the same bytes (metadata and
// tensors in the order added, tensors packed in that order, zero padding after the infos and
// after every tensor). The file appears atomically on finish(). The alignment is a power of two
// in 8..2^31; when it is not the default 32, general.alignment (u32) is added to the metadata if
// absent.
class GgufWriter {
 public:
  explicit GgufWriter(uint64_t alignment = kDefaultAlignment) : alignment_(alignment) {}

  // Replaces an existing key, keeping its position. The value may come from a GgufFile (its views
  // must then stay valid until finish() returns).
  void set(std::string key, Value value);
  // Checks the name (1..63 bytes, unique), shape (1..4 dims, each >= 1, ne[0] a multiple of the
  // type's block) and size. The tensor's bytes are copied when written; `data` (n_bytes of the
  // shape in `type`) must stay valid until finish() returns.
  Status add_tensor(std::string name, DType type, std::span<const int64_t> shape, const void* data);
  // Writes the file through AtomicFileWriter: on any error nothing appears at `path` (an existing
  // file is left as it was). Returns on the first error.
  Status finish(const std::string& path) const;
  // The same bytes, in memory (tests, fuzzing).
  Expected<std::vector<uint8_t>> to_bytes() const;

  uint64_t alignment() const { return alignment_; }

  class Sink;  // where the bytes go (a file or memory); internal

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    uint64_t n_bytes;
  };
  // The metadata as written: kv_, plus general.alignment when needed. Fails on a bad key,
  // alignment or value.
  Expected<std::vector<std::pair<std::string, Value>>> final_metadata(const std::string& subject) const;
  Status write_to(Sink& sink, const std::vector<std::pair<std::string, Value>>& kv) const;

  uint64_t alignment_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<PendingTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace mnemo::gguf
