// GGUF v3 writer: deterministic bytes, written atomically.
#include <limits>

#include "base/byte_reader.h"
#include "base/strings.h"
#include "formats/gguf.h"

namespace mnemo::gguf {

namespace {

constexpr uint32_t kVersion = 3;
// ggml keeps tensor names in a 64-byte buffer with a NUL, so 63 bytes is the most it reads back.
constexpr size_t kMaxTensorName = 63;
constexpr size_t kMaxKey = 65535;

std::string quoted(std::string_view s) { return quote_bytes(s, 80); }

}  // namespace

// Where the bytes go: a file (through AtomicFileWriter) or memory.
class GgufWriter::Sink {
 public:
  virtual ~Sink() = default;
  virtual Status write(const void* data, size_t n) = 0;
  virtual uint64_t written() const = 0;

  template <typename T>
  Status put(T v) {
    return write(&v, sizeof(T));
  }
  Status put_string(std::string_view s) {
    MNEMO_RETURN_IF_ERROR(put<uint64_t>(s.size()));
    return s.empty() ? Status::ok() : write(s.data(), s.size());
  }
  Status pad_to(uint64_t alignment) {
    static const uint8_t kZeros[256] = {};
    uint64_t rem = written() % alignment;
    uint64_t n = rem == 0 ? 0 : alignment - rem;
    while (n > 0) {
      const size_t chunk = n < sizeof(kZeros) ? static_cast<size_t>(n) : sizeof(kZeros);
      MNEMO_RETURN_IF_ERROR(write(kZeros, chunk));
      n -= chunk;
    }
    return Status::ok();
  }
};

namespace {

class FileSink : public GgufWriter::Sink {
 public:
  explicit FileSink(AtomicFileWriter* w) : w_(w) {}
  Status write(const void* data, size_t n) override { return w_->write(data, n); }
  uint64_t written() const override { return w_->bytes_written(); }

 private:
  AtomicFileWriter* w_;
};

class MemorySink : public GgufWriter::Sink {
 public:
  explicit MemorySink(std::vector<uint8_t>* out) : out_(out) {}
  Status write(const void* data, size_t n) override {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), p, p + n);
    return Status::ok();
  }
  uint64_t written() const override { return out_->size(); }

 private:
  std::vector<uint8_t>* out_;
};

}  // namespace

void GgufWriter::set(std::string key, Value value) {
  for (auto& kv : kv_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  kv_.emplace_back(std::move(key), std::move(value));
}

Status GgufWriter::add_tensor(std::string name, DType type, std::span<const int64_t> shape, const void* data) {
  const std::string subject = "tensor " + quoted(name);
  if (name.empty() || name.size() > kMaxTensorName) {
    return invalid_argument(subject + ": expected a name of 1.." + std::to_string(kMaxTensorName) +
                            " bytes, found " + std::to_string(name.size()));
  }
  if (tensor_index_.count(name) != 0) {
    return invalid_argument(subject + ": expected a unique tensor name, found it added twice");
  }
  std::optional<DTypeTraits> tr = dtype_traits(static_cast<uint32_t>(type));
  if (!tr) {
    return invalid_argument(subject + ": expected a known type, found id " +
                            std::to_string(static_cast<uint32_t>(type)));
  }
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims)) {
    return invalid_argument(subject + ": expected 1.." + std::to_string(kMaxDims) + " dimensions, found " +
                            std::to_string(shape.size()));
  }
  uint64_t n_elements = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 1) {
      return invalid_argument(subject + ": ne[" + std::to_string(d) + "]: expected >= 1, found " +
                              std::to_string(shape[d]));
    }
    if (!checked_mul(n_elements, static_cast<uint64_t>(shape[d]), &n_elements) ||
        n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid_argument(subject + ": expected an element count below 2^63, found an overflow");
    }
  }
  if (static_cast<uint64_t>(shape[0]) % tr->block_elems != 0) {
    return invalid_argument(subject + ": ne[0]: expected a multiple of the " + std::string(tr->name) +
                            " block size " + std::to_string(tr->block_elems) + ", found " +
                            std::to_string(shape[0]));
  }
  const uint64_t row = static_cast<uint64_t>(shape[0]) / tr->block_elems * tr->block_bytes;
  uint64_t n_bytes = 0;
  if (!checked_mul(row, n_elements / static_cast<uint64_t>(shape[0]), &n_bytes) ||
      n_bytes > static_cast<uint64_t>(std::numeric_limits<size_t>::max() / 2)) {
    return invalid_argument(subject + ": expected a byte size that fits in memory, found an overflow");
  }
  if (data == nullptr) return invalid_argument(subject + ": expected data, found a null pointer");
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back(PendingTensor{std::move(name), type, std::vector<int64_t>(shape.begin(), shape.end()),
                                   data, n_bytes});
  return Status::ok();
}

Expected<std::vector<std::pair<std::string, Value>>> GgufWriter::final_metadata(const std::string& subject) const {
  // At least 8, so that every tensor's data starts aligned for its element type (the reader checks).
  if (alignment_ < 8 || (alignment_ & (alignment_ - 1)) != 0 || alignment_ > (1ull << 31)) {
    return invalid_argument(subject + ": alignment: expected a power of two in 8..2^31, found " +
                            std::to_string(alignment_));
  }
  std::vector<std::pair<std::string, Value>> kv = kv_;
  bool has_alignment = false;
  for (const auto& [key, value] : kv) {
    const std::string field = subject + ": key " + quoted(key);
    if (key.empty() || key.size() > kMaxKey) {
      return invalid_argument(field + ": expected a key of 1.." + std::to_string(kMaxKey) + " bytes, found " +
                              std::to_string(key.size()));
    }
    if (value.type() == ValueType::kArray && value.array_type() == ValueType::kArray) {
      return invalid_argument(field + ": expected an array of scalars or strings, found a nested array");
    }
    if (key == kAlignmentKey) {
      has_alignment = true;
      if (value.type() != ValueType::kUint32 || *value.as_u64() != alignment_) {
        std::string found = value_type_name(value.type());
        if (auto u = value.as_u64()) found += ' ' + std::to_string(*u);
        return invalid_argument(field + ": expected uint32 " + std::to_string(alignment_) +
                                " (the writer's alignment), found " + found);
      }
    }
  }
  if (!has_alignment && alignment_ != kDefaultAlignment) {
    kv.emplace_back(std::string(kAlignmentKey), Value::u32(static_cast<uint32_t>(alignment_)));
  }
  return kv;
}

Status GgufWriter::write_to(Sink& s, const std::vector<std::pair<std::string, Value>>& kv) const {
  auto write_scalar = [&s](const Value& v) -> Status {
    switch (v.type()) {
      case ValueType::kUint8: return s.put<uint8_t>(static_cast<uint8_t>(v.u_));
      case ValueType::kUint16: return s.put<uint16_t>(static_cast<uint16_t>(v.u_));
      case ValueType::kUint32: return s.put<uint32_t>(static_cast<uint32_t>(v.u_));
      case ValueType::kUint64: return s.put<uint64_t>(v.u_);
      case ValueType::kInt8: return s.put<int8_t>(static_cast<int8_t>(v.i_));
      case ValueType::kInt16: return s.put<int16_t>(static_cast<int16_t>(v.i_));
      case ValueType::kInt32: return s.put<int32_t>(static_cast<int32_t>(v.i_));
      case ValueType::kInt64: return s.put<int64_t>(v.i_);
      // Floats are written from their stored bits, so NaN payloads survive a rewrite.
      case ValueType::kFloat32: return s.put<uint32_t>(static_cast<uint32_t>(v.u_));
      case ValueType::kFloat64: return s.put<uint64_t>(v.u_);
      case ValueType::kBool: return s.put<uint8_t>(v.u_ != 0 ? 1 : 0);
      case ValueType::kString: return s.put_string(v.str_);
      case ValueType::kArray: break;
    }
    return internal_error("gguf writer: expected a scalar value type, found id " +
                          std::to_string(static_cast<uint32_t>(v.type())));
  };
  MNEMO_RETURN_IF_ERROR(s.write("GGUF", 4));
  MNEMO_RETURN_IF_ERROR(s.put<uint32_t>(kVersion));
  MNEMO_RETURN_IF_ERROR(s.put<uint64_t>(tensors_.size()));
  MNEMO_RETURN_IF_ERROR(s.put<uint64_t>(kv.size()));
  for (const auto& [key, v] : kv) {
    MNEMO_RETURN_IF_ERROR(s.put_string(key));
    MNEMO_RETURN_IF_ERROR(s.put<uint32_t>(static_cast<uint32_t>(v.type())));
    if (v.type() != ValueType::kArray) {
      MNEMO_RETURN_IF_ERROR(write_scalar(v));
      continue;
    }
    MNEMO_RETURN_IF_ERROR(s.put<uint32_t>(static_cast<uint32_t>(v.array_type())));
    MNEMO_RETURN_IF_ERROR(s.put<uint64_t>(v.array_size()));
    if (v.array_type() == ValueType::kString) {
      for (std::string_view str : v.strings()) MNEMO_RETURN_IF_ERROR(s.put_string(str));
    } else {
      std::span<const uint8_t> raw = v.array_bytes();
      if (!raw.empty()) MNEMO_RETURN_IF_ERROR(s.write(raw.data(), raw.size()));
    }
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    MNEMO_RETURN_IF_ERROR(s.put_string(t.name));
    MNEMO_RETURN_IF_ERROR(s.put<uint32_t>(static_cast<uint32_t>(t.shape.size())));
    for (int64_t ne : t.shape) MNEMO_RETURN_IF_ERROR(s.put<uint64_t>(static_cast<uint64_t>(ne)));
    MNEMO_RETURN_IF_ERROR(s.put<uint32_t>(static_cast<uint32_t>(t.type)));
    MNEMO_RETURN_IF_ERROR(s.put<uint64_t>(offset));
    offset += (t.n_bytes + alignment_ - 1) / alignment_ * alignment_;
  }
  MNEMO_RETURN_IF_ERROR(s.pad_to(alignment_));
  for (const PendingTensor& t : tensors_) {
    MNEMO_RETURN_IF_ERROR(s.write(t.data, static_cast<size_t>(t.n_bytes)));
    MNEMO_RETURN_IF_ERROR(s.pad_to(alignment_));
  }
  return Status::ok();
}

Status GgufWriter::finish(const std::string& path) const {
  MNEMO_ASSIGN_OR_RETURN(auto kv, final_metadata(path));
  MNEMO_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> out, AtomicFileWriter::create(path));
  FileSink sink(out.get());
  MNEMO_RETURN_IF_ERROR(write_to(sink, kv));
  return out->commit();  // on any earlier return the writer's destructor removes the temporary
}

Expected<std::vector<uint8_t>> GgufWriter::to_bytes() const {
  MNEMO_ASSIGN_OR_RETURN(auto kv, final_metadata("gguf writer"));
  std::vector<uint8_t> bytes;
  MemorySink sink(&bytes);
  MNEMO_RETURN_IF_ERROR(write_to(sink, kv));
  return bytes;
}

}  // namespace mnemo::gguf
