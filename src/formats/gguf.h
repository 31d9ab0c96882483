// formats/gguf.h: the GGUF container (versions 2 and 3), read over a mapping and written
// deterministically. Spec: ggml/docs/gguf.md.
//
// File layout: magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv | n_kv key/values |
// n_tensors tensor infos (name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset) | padding to
// general.alignment (default 32) | tensor data, each tensor at data_start + offset.
//
// The reader treats the file as hostile: every length and count is checked against the bytes that
// remain, every size computation against overflow, type ids against the known set, dimensions
// against limits. Strings and tensor data are views into the mapping: a GgufFile must outlive
// every view it hands out.
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

const char* value_type_name(ValueType t);

// One metadata value. Scalars are held widened; strings and arrays are views into the file
// (or, for values built in memory for the writer, into `owned_`).
class Value {
 public:
  ValueType type() const { return type_; }
  // For arrays: the element type and count. Nested arrays are rejected by the reader.
  ValueType array_type() const { return array_type_; }
  uint64_t array_size() const { return array_size_; }

  // Typed access; nullopt when the stored type does not convert without loss
  // (any integer type converts to a wider or equal integer when the value fits).
  std::optional<uint64_t> as_u64() const;
  std::optional<int64_t> as_i64() const;
  std::optional<double> as_f64() const;  // float32/float64 and integers
  std::optional<bool> as_bool() const;
  std::optional<std::string_view> as_string() const;

  // Array element access (bounds must be checked by the caller against array_size()).
  std::string_view string_at(uint64_t i) const;
  double number_at(uint64_t i) const;  // numeric element, widened
  int64_t int_at(uint64_t i) const;

  // Builders for the writer.
  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value string(std::string v);
  static Value string_array(std::vector<std::string> v);
  static Value f32_array(std::vector<float> v);
  static Value i32_array(std::vector<int32_t> v);

 private:
  friend class GgufFile;
  friend class GgufWriter;
  friend struct ValueAccess;
  ValueType type_ = ValueType::kUint8;
  ValueType array_type_ = ValueType::kUint8;
  uint64_t array_size_ = 0;
  uint64_t u_ = 0;   // unsigned integers and bool
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

struct Limits {
  uint64_t max_string_len = 1ull << 24;
  uint64_t max_array_len = 1ull << 26;
  uint64_t max_kv = 1ull << 16;
  uint64_t max_tensors = 1ull << 16;
  int64_t max_dim = 1ll << 32;
};

class GgufFile {
 public:
  // Opens and validates a GGUF file. Errors name the file and the field:
  // "m.gguf: tensor 'blk.0.attn_q.weight': expected type id < 40, found 77".
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
  Expected<uint64_t> get_u64(std::string_view key) const;
  Expected<double> get_f64(std::string_view key) const;
  Expected<std::string> get_string(std::string_view key) const;
  // Same, with a default when the key is absent (a wrong type is still an error).
  Expected<uint64_t> get_u64_or(std::string_view key, uint64_t def) const;
  Expected<double> get_f64_or(std::string_view key, double def) const;
  Expected<bool> get_bool_or(std::string_view key, bool def) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  TensorView view(const TensorInfo& info) const;

  // The whole file (mapping or buffer).
  const FileBytes& file() const { return file_; }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  Status parse_all(const Limits& limits);

  std::string name_;
  FileBytes file_;
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Writes GGUF v3. Output is deterministic: the same calls produce the same bytes (metadata and
// tensors in the order added, zero padding). The file appears atomically on finish().
class GgufWriter {
 public:
  explicit GgufWriter(uint64_t alignment = 32) : alignment_(alignment) {}

  void set(std::string key, Value value);  // replaces an existing key, keeping its position
  // The tensor's bytes are copied when written; `data` must stay valid until finish() returns.
  Status add_tensor(std::string name, DType type, std::span<const int64_t> shape, const void* data);
  Status finish(const std::string& path);  // progress is not reported; returns on the first error

 private:
  uint64_t alignment_;
  std::vector<std::pair<std::string, Value>> kv_;
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    uint64_t n_bytes;
  };
  std::vector<PendingTensor> tensors_;
};

}  // namespace mnemo::gguf
