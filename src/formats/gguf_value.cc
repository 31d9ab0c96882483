// GGUF metadata values: typed access and the builders the writer uses.
#include "formats/gguf.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/check.h"

namespace mnemo::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF values are read in place as little-endian");

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

uint32_t value_type_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool: return 1;
    case ValueType::kUint16:
    case ValueType::kInt16: return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32: return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64: return 8;
    case ValueType::kString:
    case ValueType::kArray: return 0;
  }
  return 0;
}

namespace {

bool is_unsigned(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 ||
         t == ValueType::kUint64;
}
bool is_signed(ValueType t) {
  return t == ValueType::kInt8 || t == ValueType::kInt16 || t == ValueType::kInt32 ||
         t == ValueType::kInt64;
}
bool is_float(ValueType t) { return t == ValueType::kFloat32 || t == ValueType::kFloat64; }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Element i of a fixed-size array, in the widened slots of a scalar Value.
struct Element {
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
};

Element element(ValueType t, const uint8_t* base, uint64_t i) {
  Element e;
  const uint8_t* p = base + i * value_type_size(t);
  switch (t) {
    case ValueType::kUint8: e.u = load<uint8_t>(p); break;
    case ValueType::kBool: e.u = load<uint8_t>(p) != 0 ? 1 : 0; break;
    case ValueType::kInt8: e.i = load<int8_t>(p); break;
    case ValueType::kUint16: e.u = load<uint16_t>(p); break;
    case ValueType::kInt16: e.i = load<int16_t>(p); break;
    case ValueType::kUint32: e.u = load<uint32_t>(p); break;
    case ValueType::kInt32: e.i = load<int32_t>(p); break;
    case ValueType::kFloat32: e.f = load<float>(p); break;
    case ValueType::kUint64: e.u = load<uint64_t>(p); break;
    case ValueType::kInt64: e.i = load<int64_t>(p); break;
    case ValueType::kFloat64: e.f = load<double>(p); break;
    case ValueType::kString:
    case ValueType::kArray: break;
  }
  return e;
}

int64_t saturating_int(double f) {
  if (std::isnan(f)) return 0;
  if (f >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
  if (f <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(f);
}

}  // namespace

std::optional<uint64_t> Value::as_u64() const {
  if (is_unsigned(type_)) return u_;
  if (is_signed(type_) && i_ >= 0) return static_cast<uint64_t>(i_);
  return std::nullopt;
}

std::optional<int64_t> Value::as_i64() const {
  if (is_signed(type_)) return i_;
  if (is_unsigned(type_) && u_ <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(u_);
  }
  return std::nullopt;
}

std::optional<double> Value::as_f64() const {
  if (is_float(type_)) return f_;
  if (is_unsigned(type_)) return static_cast<double>(u_);
  if (is_signed(type_)) return static_cast<double>(i_);
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (type_ == ValueType::kBool) return u_ != 0;
  return std::nullopt;
}

std::optional<std::string_view> Value::as_string() const {
  if (type_ == ValueType::kString) return str_;
  return std::nullopt;
}

std::string_view Value::string_at(uint64_t i) const {
  MNEMO_DCHECK(i < strings_.size());
  if (i >= strings_.size()) return {};
  return strings_[static_cast<size_t>(i)];
}

double Value::number_at(uint64_t i) const {
  MNEMO_DCHECK(i < array_size_ && array_data_ != nullptr);
  if (type_ != ValueType::kArray || array_data_ == nullptr || i >= array_size_) return 0.0;
  Element e = element(array_type_, array_data_, i);
  if (is_float(array_type_)) return e.f;
  if (is_signed(array_type_)) return static_cast<double>(e.i);
  return static_cast<double>(e.u);
}

int64_t Value::int_at(uint64_t i) const {
  MNEMO_DCHECK(i < array_size_ && array_data_ != nullptr);
  if (type_ != ValueType::kArray || array_data_ == nullptr || i >= array_size_) return 0;
  Element e = element(array_type_, array_data_, i);
  if (is_float(array_type_)) return saturating_int(e.f);
  if (is_signed(array_type_)) return e.i;
  if (e.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::numeric_limits<int64_t>::max();
  }
  return static_cast<int64_t>(e.u);
}

std::span<const uint8_t> Value::array_bytes() const {
  if (type_ != ValueType::kArray || array_data_ == nullptr) return {};
  return {array_data_, static_cast<size_t>(array_size_ * value_type_size(array_type_))};
}

// ---- builders ----

Value Value::u8(uint8_t v) { return scalar_u(ValueType::kUint8, v); }
Value Value::u16(uint16_t v) { return scalar_u(ValueType::kUint16, v); }
Value Value::u32(uint32_t v) { return scalar_u(ValueType::kUint32, v); }
Value Value::u64(uint64_t v) { return scalar_u(ValueType::kUint64, v); }
Value Value::boolean(bool v) { return scalar_u(ValueType::kBool, v ? 1 : 0); }
Value Value::i8(int8_t v) { return scalar_i(ValueType::kInt8, v); }
Value Value::i16(int16_t v) { return scalar_i(ValueType::kInt16, v); }
Value Value::i32(int32_t v) { return scalar_i(ValueType::kInt32, v); }
Value Value::i64(int64_t v) { return scalar_i(ValueType::kInt64, v); }
Value Value::f32(float v) { return scalar_f(ValueType::kFloat32, v, std::bit_cast<uint32_t>(v)); }
Value Value::f64(double v) { return scalar_f(ValueType::kFloat64, v, std::bit_cast<uint64_t>(v)); }

Value Value::scalar_u(ValueType t, uint64_t v) {
  Value x;
  x.type_ = t;
  x.u_ = v;
  return x;
}

Value Value::scalar_i(ValueType t, int64_t v) {
  Value x;
  x.type_ = t;
  x.i_ = v;
  return x;
}

Value Value::scalar_f(ValueType t, double v, uint64_t bits) {
  Value x;
  x.type_ = t;
  x.f_ = v;
  x.u_ = bits;
  return x;
}

Value Value::string(std::string v) {
  auto owned = std::make_shared<std::string>(std::move(v));
  Value x;
  x.type_ = ValueType::kString;
  x.str_ = *owned;
  x.owned_ = std::move(owned);
  return x;
}

Value Value::string_array(std::vector<std::string> v) {
  auto owned = std::make_shared<std::vector<std::string>>(std::move(v));
  Value x;
  x.type_ = ValueType::kArray;
  x.array_type_ = ValueType::kString;
  x.array_size_ = owned->size();
  x.strings_.reserve(owned->size());
  for (const std::string& s : *owned) x.strings_.emplace_back(s);
  x.owned_ = std::move(owned);
  return x;
}

// Fixed-size arrays keep their little-endian bytes, exactly as a file holds them.
Value Value::fixed_array(ValueType elem, const void* data, size_t n) {
  const size_t n_bytes = n * value_type_size(elem);
  auto owned = std::make_shared<std::vector<uint8_t>>(n_bytes);
  if (n_bytes != 0) std::memcpy(owned->data(), data, n_bytes);
  Value x;
  x.type_ = ValueType::kArray;
  x.array_type_ = elem;
  x.array_size_ = n;
  x.array_data_ = owned->data();
  x.owned_ = std::move(owned);
  return x;
}

Value Value::u8_array(std::vector<uint8_t> v) { return fixed_array(ValueType::kUint8, v.data(), v.size()); }
Value Value::i8_array(std::vector<int8_t> v) { return fixed_array(ValueType::kInt8, v.data(), v.size()); }
Value Value::u16_array(std::vector<uint16_t> v) { return fixed_array(ValueType::kUint16, v.data(), v.size()); }
Value Value::i16_array(std::vector<int16_t> v) { return fixed_array(ValueType::kInt16, v.data(), v.size()); }
Value Value::u32_array(std::vector<uint32_t> v) { return fixed_array(ValueType::kUint32, v.data(), v.size()); }
Value Value::i32_array(std::vector<int32_t> v) { return fixed_array(ValueType::kInt32, v.data(), v.size()); }
Value Value::u64_array(std::vector<uint64_t> v) { return fixed_array(ValueType::kUint64, v.data(), v.size()); }
Value Value::i64_array(std::vector<int64_t> v) { return fixed_array(ValueType::kInt64, v.data(), v.size()); }
Value Value::f32_array(std::vector<float> v) { return fixed_array(ValueType::kFloat32, v.data(), v.size()); }
Value Value::f64_array(std::vector<double> v) { return fixed_array(ValueType::kFloat64, v.data(), v.size()); }

Value Value::bool_array(std::vector<bool> v) {
  std::vector<uint8_t> bytes(v.size());
  for (size_t i = 0; i < v.size(); ++i) bytes[i] = v[i] ? 1 : 0;
  return fixed_array(ValueType::kBool, bytes.data(), bytes.size());
}

}  // namespace mnemo::gguf
