// GGUF reader: validates a whole file up front, then hands out views into it.
#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "base/byte_reader.h"
#include "base/strings.h"
#include "formats/gguf.h"

namespace mnemo::gguf {

// Fills Values with views into the file (Value's members are private to the builders otherwise).
struct ValueAccess {
  static void set_unsigned(Value* v, ValueType t, uint64_t x) {
    v->type_ = t;
    v->u_ = x;
  }
  static void set_signed(Value* v, ValueType t, int64_t x) {
    v->type_ = t;
    v->i_ = x;
  }
  static void set_float(Value* v, ValueType t, double x, uint64_t bits) {
    v->type_ = t;
    v->f_ = x;
    v->u_ = bits;
  }
  static void set_string(Value* v, std::string_view s) {
    v->type_ = ValueType::kString;
    v->str_ = s;
  }
  static void set_fixed_array(Value* v, ValueType elem, uint64_t n, const uint8_t* data) {
    v->type_ = ValueType::kArray;
    v->array_type_ = elem;
    v->array_size_ = n;
    v->array_data_ = data;
  }
  static void set_string_array(Value* v, std::vector<std::string_view> strings) {
    v->type_ = ValueType::kArray;
    v->array_type_ = ValueType::kString;
    v->array_size_ = strings.size();
    v->strings_ = std::move(strings);
  }
};

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kMaxValueType = static_cast<uint32_t>(ValueType::kFloat64);
// Smallest possible key/value (8-byte key length, empty key, 4-byte type, 1-byte value) and
// tensor info (8-byte name length, empty name, n_dims, one ne, type, offset).
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;

std::string u64s(uint64_t v) { return std::to_string(v); }

std::string quoted(std::string_view s) { return quote_bytes(s, 80); }

// The alignment a type's data needs in memory for kernels to read it in place: its element size
// for plain types, the largest power of two (at most 4) dividing the block size for blocks.
uint64_t required_alignment(const DTypeTraits& t) {
  uint64_t b = t.block_bytes;
  uint64_t a = b & (~b + 1);  // lowest set bit
  if (t.quantized && a > 4) a = 4;
  return a > 8 ? 8 : a;
}

// A field name for messages: a string, or a callable that builds one. Callables keep the success
// path free of allocations (vocabularies hold tens of thousands of strings).
template <typename F>
std::string render(const F& field) {
  if constexpr (std::is_invocable_v<const F&>) {
    return field();
  } else {
    return std::string(field);
  }
}

// Parsing state shared by the helpers below: the cursor and what messages need.
class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, const std::string& name, const Limits& limits)
      : r_(bytes), name_(name), limits_(limits) {}

  ByteReader& reader() { return r_; }

  template <typename F>
  Status error(StatusCode code, const F& field, const std::string& what) const {
    return Status(code, name_ + ": " + render(field) + ": " + what);
  }

  // "expected N bytes at offset O, found M before the end of the file" at the cursor.
  template <typename F>
  Status truncated(const F& field, uint64_t need) const {
    return error(StatusCode::kCorrupt, field,
                 "expected " + u64s(need) + " bytes at offset " + u64s(r_.offset()) + ", found " +
                     u64s(r_.remaining()) + " before the end of the file");
  }

  template <typename F, typename T>
  Status read(const F& field, T* out) {
    if (!r_.read(out)) return truncated(field, sizeof(T));
    return Status::ok();
  }

  template <typename F>
  Status read_string(const F& field, uint64_t max_len, std::string_view* out) {
    uint64_t len = 0;
    MNEMO_RETURN_IF_ERROR(read([&] { return render(field) + " length"; }, &len));
    if (len > max_len) {
      return error(StatusCode::kOutOfRange, field,
                   "expected a length of at most " + u64s(max_len) + " bytes, found " + u64s(len));
    }
    if (!r_.read_bytes(len, out)) return truncated(field, len);
    return Status::ok();
  }

  template <typename F>
  Status read_value_type(const F& field, ValueType* out) {
    uint32_t id = 0;
    MNEMO_RETURN_IF_ERROR(read(field, &id));
    if (id > kMaxValueType) {
      return error(StatusCode::kCorrupt, field,
                   "expected a value type id in 0.." + u64s(kMaxValueType) + ", found " + u64s(id));
    }
    *out = static_cast<ValueType>(id);
    return Status::ok();
  }

  // A scalar of type t (not kArray).
  template <typename F>
  Status read_scalar(const F& field, ValueType t, Value* v) {
    switch (t) {
      case ValueType::kUint8: return read_u<uint8_t>(field, t, v);
      case ValueType::kUint16: return read_u<uint16_t>(field, t, v);
      case ValueType::kUint32: return read_u<uint32_t>(field, t, v);
      case ValueType::kUint64: return read_u<uint64_t>(field, t, v);
      case ValueType::kInt8: return read_i<int8_t>(field, t, v);
      case ValueType::kInt16: return read_i<int16_t>(field, t, v);
      case ValueType::kInt32: return read_i<int32_t>(field, t, v);
      case ValueType::kInt64: return read_i<int64_t>(field, t, v);
      case ValueType::kFloat32: return read_f<float>(field, t, v);
      case ValueType::kFloat64: return read_f<double>(field, t, v);
      case ValueType::kBool: {
        uint8_t b = 0;
        MNEMO_RETURN_IF_ERROR(read(field, &b));
        if (b > 1) return error(StatusCode::kCorrupt, field, "expected a bool 0 or 1, found " + u64s(b));
        ValueAccess::set_unsigned(v, t, b);
        return Status::ok();
      }
      case ValueType::kString: {
        std::string_view s;
        MNEMO_RETURN_IF_ERROR(read_string(field, limits_.max_string_len, &s));
        ValueAccess::set_string(v, s);
        return Status::ok();
      }
      case ValueType::kArray: break;
    }
    return error(StatusCode::kInternal, field, "expected a scalar type, found array");
  }

  template <typename F>
  Status read_array(const F& field, Value* v) {
    ValueType elem = ValueType::kUint8;
    MNEMO_RETURN_IF_ERROR(read_value_type([&] { return render(field) + ": array element type"; }, &elem));
    if (elem == ValueType::kArray) {
      return error(StatusCode::kCorrupt, field, "expected an array of scalars or strings, found a nested array");
    }
    uint64_t n = 0;
    MNEMO_RETURN_IF_ERROR(read([&] { return render(field) + ": array length"; }, &n));
    if (n > limits_.max_array_len) {
      return error(StatusCode::kOutOfRange, field,
                   "expected at most " + u64s(limits_.max_array_len) + " array elements, found " + u64s(n));
    }
    if (elem == ValueType::kString) {
      // Every string takes at least its 8-byte length: bounds the vector before it is sized.
      if (n > r_.remaining() / 8) {
        return error(StatusCode::kCorrupt, field,
                     "expected at most " + u64s(r_.remaining() / 8) + " strings in the " +
                         u64s(r_.remaining()) + " bytes that remain, found an array length of " + u64s(n));
      }
      std::vector<std::string_view> strings(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) {
        MNEMO_RETURN_IF_ERROR(read_string([&] { return render(field) + "[" + u64s(i) + "]"; },
                                          limits_.max_string_len, &strings[static_cast<size_t>(i)]));
      }
      ValueAccess::set_string_array(v, std::move(strings));
      return Status::ok();
    }
    const uint64_t size = value_type_size(elem);
    uint64_t n_bytes = 0;
    if (!checked_mul(n, size, &n_bytes)) {
      return error(StatusCode::kCorrupt, field,
                   "expected an array byte size below 2^64, found " + u64s(n) + " elements of " + u64s(size) +
                       " bytes");
    }
    std::string_view raw;
    if (!r_.read_bytes(n_bytes, &raw)) {
      return error(StatusCode::kCorrupt, field,
                   "expected " + u64s(n_bytes) + " bytes of array data (" + u64s(n) + " x " +
                       value_type_name(elem) + "), found " + u64s(r_.remaining()) + " before the end of the file");
    }
    const uint8_t* data = reinterpret_cast<const uint8_t*>(raw.data());
    if (elem == ValueType::kBool) {
      for (uint64_t i = 0; i < n; ++i) {
        if (data[i] > 1) {
          return error(StatusCode::kCorrupt, [&] { return render(field) + "[" + u64s(i) + "]"; },
                       "expected a bool 0 or 1, found " + u64s(data[i]));
        }
      }
    }
    ValueAccess::set_fixed_array(v, elem, n, data);
    return Status::ok();
  }

 private:
  template <typename T, typename F>
  Status read_u(const F& field, ValueType t, Value* v) {
    T x{};
    MNEMO_RETURN_IF_ERROR(read(field, &x));
    ValueAccess::set_unsigned(v, t, x);
    return Status::ok();
  }
  template <typename T, typename F>
  Status read_i(const F& field, ValueType t, Value* v) {
    T x{};
    MNEMO_RETURN_IF_ERROR(read(field, &x));
    ValueAccess::set_signed(v, t, x);
    return Status::ok();
  }
  template <typename T, typename F>
  Status read_f(const F& field, ValueType t, Value* v) {
    T x{};
    MNEMO_RETURN_IF_ERROR(read(field, &x));
    uint64_t bits = 0;
    std::memcpy(&bits, &x, sizeof(T));
    ValueAccess::set_float(v, t, static_cast<double>(x), bits);
    return Status::ok();
  }

  ByteReader r_;
  const std::string& name_;
  const Limits& limits_;
};

std::string shape_string(const int64_t* ne, int n_dims) {
  std::string s = "{";
  for (int i = 0; i < n_dims; ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "}";
}

uint64_t byteswap32(uint32_t v) {
  return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) | (v >> 24);
}

}  // namespace

Expected<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path, MapMode mode, const Limits& limits) {
  auto file = std::make_unique<GgufFile>();
  MNEMO_ASSIGN_OR_RETURN(file->file_, FileBytes::open(path, mode));
  file->name_ = path;
  file->bytes_ = file->file_.bytes();
  MNEMO_RETURN_IF_ERROR(file->parse_all(limits));
  return file;
}

Expected<std::unique_ptr<GgufFile>> GgufFile::parse(std::span<const uint8_t> bytes, const std::string& name,
                                                     const Limits& limits) {
  auto file = std::make_unique<GgufFile>();
  file->name_ = name;
  file->bytes_ = bytes;
  MNEMO_RETURN_IF_ERROR(file->parse_all(limits));
  return file;
}

Status GgufFile::parse_all(const Limits& limits) {
  Parser p(bytes_, name_, limits);
  ByteReader& r = p.reader();

  // Header.
  std::string_view magic;
  if (!r.read_bytes(4, &magic)) {
    return p.error(StatusCode::kCorrupt, "magic",
                   "expected \"GGUF\", found a file of " + u64s(bytes_.size()) + " bytes");
  }
  if (magic != std::string_view(kMagic, 4)) {
    return p.error(StatusCode::kCorrupt, "magic", "expected \"GGUF\", found " + quoted(magic));
  }
  MNEMO_RETURN_IF_ERROR(p.read("version", &version_));
  if (version_ != 2 && version_ != 3) {
    std::string what = "expected 2 or 3, found " + u64s(version_);
    if (version_ == 1) what += " (GGUF v1 is no longer supported)";
    const uint64_t swapped = byteswap32(version_);
    if (swapped == 2 || swapped == 3) what += " (a big-endian file?)";
    return p.error(version_ == 0 ? StatusCode::kCorrupt : StatusCode::kUnsupported, "version", what);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  MNEMO_RETURN_IF_ERROR(p.read("tensor count", &n_tensors));
  MNEMO_RETURN_IF_ERROR(p.read("kv count", &n_kv));
  if (n_kv > limits.max_kv) {
    return p.error(StatusCode::kOutOfRange, "kv count",
                   "expected at most " + u64s(limits.max_kv) + " key/values, found " + u64s(n_kv));
  }
  if (n_tensors > limits.max_tensors) {
    return p.error(StatusCode::kOutOfRange, "tensor count",
                   "expected at most " + u64s(limits.max_tensors) + " tensors, found " + u64s(n_tensors));
  }
  if (n_kv > r.remaining() / kMinKvBytes) {
    return p.error(StatusCode::kCorrupt, "kv count",
                   "expected at most " + u64s(r.remaining() / kMinKvBytes) + " key/values in the " +
                       u64s(r.remaining()) + " bytes that remain, found " + u64s(n_kv));
  }
  const uint64_t after_kv = r.remaining() - n_kv * kMinKvBytes;
  if (n_tensors > after_kv / kMinTensorInfoBytes) {
    return p.error(StatusCode::kCorrupt, "tensor count",
                   "expected at most " + u64s(after_kv / kMinTensorInfoBytes) + " tensor infos (beside " +
                       u64s(n_kv) + " key/values) in the " + u64s(r.remaining()) + " bytes that remain, found " +
                       u64s(n_tensors));
  }

  // Key/values.
  kv_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string_view key;
    MNEMO_RETURN_IF_ERROR(p.read_string([&] { return "kv " + u64s(i) + " key"; }, limits.max_key_len, &key));
    auto field = [&] { return "key " + quoted(key); };
    auto [it, inserted] = kv_index_.emplace(std::string(key), static_cast<size_t>(i));
    if (!inserted) {
      return p.error(StatusCode::kCorrupt, field,
                     "expected a unique key, found it again at kv " + u64s(i) + " (first at kv " +
                         u64s(it->second) + ")");
    }
    ValueType type = ValueType::kUint8;
    MNEMO_RETURN_IF_ERROR(p.read_value_type([&] { return field() + ": value type"; }, &type));
    Value value;
    if (type == ValueType::kArray) {
      MNEMO_RETURN_IF_ERROR(p.read_array(field, &value));
    } else {
      MNEMO_RETURN_IF_ERROR(p.read_scalar(field, type, &value));
    }
    kv_.emplace_back(std::string(key), std::move(value));
  }

  // general.alignment: u32, a power of two.
  if (const Value* a = find(kAlignmentKey)) {
    const std::string field = "key " + quoted(kAlignmentKey);
    if (a->type() != ValueType::kUint32) {
      return p.error(StatusCode::kCorrupt, field,
                     std::string("expected type uint32, found ") + value_type_name(a->type()));
    }
    const uint64_t v = *a->as_u64();
    if (v == 0 || (v & (v - 1)) != 0) {
      return p.error(StatusCode::kCorrupt, field, "expected a power of two, found " + u64s(v));
    }
    alignment_ = v;
  }

  // Tensor infos.
  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    std::string_view name;
    MNEMO_RETURN_IF_ERROR(
        p.read_string([&] { return "tensor " + u64s(i) + " name"; }, limits.max_tensor_name_len, &name));
    auto field = [&] { return "tensor " + quoted(name); };
    auto [it, inserted] = tensor_index_.emplace(std::string(name), static_cast<size_t>(i));
    if (!inserted) {
      return p.error(StatusCode::kCorrupt, field,
                     "expected a unique tensor name, found it again at tensor " + u64s(i) + " (first at tensor " +
                         u64s(it->second) + ")");
    }
    TensorInfo info;
    info.name = std::string(name);
    uint32_t n_dims = 0;
    MNEMO_RETURN_IF_ERROR(p.read([&] { return field() + ": n_dims"; }, &n_dims));
    if (n_dims < 1 || n_dims > static_cast<uint32_t>(kMaxDims)) {
      return p.error(StatusCode::kCorrupt, field() + ": n_dims",
                     "expected 1.." + std::to_string(kMaxDims) + ", found " + u64s(n_dims));
    }
    info.n_dims = static_cast<int>(n_dims);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      auto dim_field = [&] { return field() + ": ne[" + u64s(d) + "]"; };
      uint64_t ne = 0;
      MNEMO_RETURN_IF_ERROR(p.read(dim_field, &ne));
      if (ne < 1 || ne > static_cast<uint64_t>(limits.max_dim)) {
        return p.error(StatusCode::kCorrupt, dim_field,
                       "expected 1.." + std::to_string(limits.max_dim) + ", found " + u64s(ne));
      }
      info.ne[d] = static_cast<int64_t>(ne);
      if (!checked_mul(n_elements, ne, &n_elements) ||
          n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return p.error(StatusCode::kCorrupt, field,
                       "expected an element count below 2^63, found shape " +
                           shape_string(info.ne, static_cast<int>(d + 1)) + (d + 1 < n_dims ? "..." : ""));
      }
    }
    uint32_t type_id = 0;
    MNEMO_RETURN_IF_ERROR(p.read([&] { return field() + ": type"; }, &type_id));
    std::optional<DTypeTraits> traits = dtype_traits(type_id);
    if (!traits) {
      return p.error(StatusCode::kUnsupported, field() + ": type",
                     "expected a known ggml type id, found " + u64s(type_id));
    }
    info.type = static_cast<DType>(type_id);
    if (static_cast<uint64_t>(info.ne[0]) % traits->block_elems != 0) {
      return p.error(StatusCode::kCorrupt, field() + ": ne[0]",
                     "expected a multiple of the " + std::string(traits->name) + " block size " +
                         u64s(traits->block_elems) + ", found " + std::to_string(info.ne[0]));
    }
    const uint64_t row = static_cast<uint64_t>(info.ne[0]) / traits->block_elems * traits->block_bytes;
    const uint64_t rows = n_elements / static_cast<uint64_t>(info.ne[0]);
    if (!checked_mul(row, rows, &info.n_bytes)) {
      return p.error(StatusCode::kCorrupt, field,
                     "expected a byte size below 2^64, found shape " + shape_string(info.ne, info.n_dims) +
                         " of " + std::string(traits->name));
    }
    MNEMO_RETURN_IF_ERROR(p.read([&] { return field() + ": offset"; }, &info.offset));
    if (info.offset % alignment_ != 0) {
      return p.error(StatusCode::kCorrupt, field() + ": offset",
                     "expected a multiple of the alignment " + u64s(alignment_) + ", found " + u64s(info.offset));
    }
    tensors_.push_back(std::move(info));
  }

  // Data section: starts at the next multiple of the alignment; every tensor inside the file.
  const uint64_t pos = r.offset();
  data_offset_ = (pos + alignment_ - 1) / alignment_ * alignment_;  // pos <= 2^64 - 2^32: no overflow
  if (tensors_.empty()) data_offset_ = std::min<uint64_t>(data_offset_, bytes_.size());
  for (const TensorInfo& t : tensors_) {
    auto field = [&] { return "tensor " + quoted(t.name) + ": data"; };
    uint64_t begin = 0, end = 0;
    if (!checked_add(data_offset_, t.offset, &begin) || !checked_add(begin, t.n_bytes, &end) ||
        end > bytes_.size()) {
      return p.error(StatusCode::kCorrupt, field,
                     "expected " + u64s(t.n_bytes) + " bytes at data offset " + u64s(t.offset) +
                         " inside the file (data starts at " + u64s(data_offset_) + "), found a file of " +
                         u64s(bytes_.size()) + " bytes");
    }
    const uint64_t need = required_alignment(traits(t.type));
    if (begin % need != 0) {
      return p.error(StatusCode::kCorrupt, field,
                     "expected a file offset that is a multiple of " + u64s(need) + " for " +
                         std::string(dtype_name(t.type)) + ", found " + u64s(begin));
    }
  }
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors_[a].offset != tensors_[b].offset ? tensors_[a].offset < tensors_[b].offset : a < b;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = tensors_[order[k - 1]];
    const TensorInfo& cur = tensors_[order[k]];
    if (prev.offset + prev.n_bytes > cur.offset) {  // both are inside the file: no overflow
      return p.error(StatusCode::kCorrupt, "tensor " + quoted(cur.name) + ": data",
                     "expected no overlap with tensor " + quoted(prev.name) + " (data bytes " + u64s(prev.offset) +
                         ".." + u64s(prev.offset + prev.n_bytes) + "), found data bytes " + u64s(cur.offset) +
                         ".." + u64s(cur.offset + cur.n_bytes));
    }
  }
  return Status::ok();
}

const Value* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufFile::view(const TensorInfo& info) const {
  TensorView v;
  v.type = info.type;
  v.n_dims = info.n_dims;
  for (int i = 0; i < kMaxDims; ++i) v.ne[i] = info.ne[i];
  v.data = bytes_.data() + data_offset_ + info.offset;
  return v;
}

std::span<const uint8_t> GgufFile::tensor_bytes(const TensorInfo& info) const {
  return bytes_.subspan(static_cast<size_t>(data_offset_ + info.offset), static_cast<size_t>(info.n_bytes));
}

// ---- typed getters ----

namespace {

std::string describe(const Value& v) {
  if (v.type() == ValueType::kArray) {
    return std::string("an array of ") + u64s(v.array_size()) + " " + value_type_name(v.array_type());
  }
  if (auto i = v.as_i64()) return std::string(value_type_name(v.type())) + " " + std::to_string(*i);
  return value_type_name(v.type());
}

}  // namespace

Expected<uint64_t> GgufFile::get_u64(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) {
    return not_found(name_ + ": key " + quoted(key) + ": expected an unsigned integer, found no such key");
  }
  if (auto u = v->as_u64()) return *u;
  return corrupt(name_ + ": key " + quoted(key) + ": expected a non-negative integer, found " + describe(*v));
}

Expected<double> GgufFile::get_f64(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return not_found(name_ + ": key " + quoted(key) + ": expected a number, found no such key");
  if (auto f = v->as_f64()) return *f;
  return corrupt(name_ + ": key " + quoted(key) + ": expected a number, found " + describe(*v));
}

Expected<std::string> GgufFile::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return not_found(name_ + ": key " + quoted(key) + ": expected a string, found no such key");
  if (auto s = v->as_string()) return std::string(*s);
  return corrupt(name_ + ": key " + quoted(key) + ": expected a string, found " + describe(*v));
}

Expected<uint64_t> GgufFile::get_u64_or(std::string_view key, uint64_t def) const {
  if (find(key) == nullptr) return def;
  return get_u64(key);
}

Expected<double> GgufFile::get_f64_or(std::string_view key, double def) const {
  if (find(key) == nullptr) return def;
  return get_f64(key);
}

Expected<bool> GgufFile::get_bool_or(std::string_view key, bool def) const {
  const Value* v = find(key);
  if (v == nullptr) return def;
  if (auto b = v->as_bool()) return *b;
  return corrupt(name_ + ": key " + quoted(key) + ": expected a bool, found " + describe(*v));
}

}  // namespace mnemo::gguf
