#include "tensor/dtype.h"

#include <cctype>
#include <string>

#include "base/check.h"

namespace mnemo {
namespace {

constexpr uint32_t kMaxId = 40;

struct Entry {
  bool known;
  DTypeTraits t;
};

constexpr Entry kTable[kMaxId] = {
    /* 0 */ {true, {"f32", 1, 4, false, true}},
    /* 1 */ {true, {"f16", 1, 2, false, true}},
    /* 2 */ {true, {"q4_0", 32, 18, true, true}},
    /* 3 */ {true, {"q4_1", 32, 20, true, true}},
    /* 4 */ {false, {}},
    /* 5 */ {false, {}},
    /* 6 */ {true, {"q5_0", 32, 22, true, true}},
    /* 7 */ {true, {"q5_1", 32, 24, true, true}},
    /* 8 */ {true, {"q8_0", 32, 34, true, true}},
    /* 9 */ {true, {"q8_1", 32, 36, true, false}},
    /* 10 */ {true, {"q2_K", 256, 84, true, true}},
    /* 11 */ {true, {"q3_K", 256, 110, true, true}},
    /* 12 */ {true, {"q4_K", 256, 144, true, true}},
    /* 13 */ {true, {"q5_K", 256, 176, true, true}},
    /* 14 */ {true, {"q6_K", 256, 210, true, true}},
    /* 15 */ {true, {"q8_K", 256, 292, true, false}},
    /* 16 */ {true, {"iq2_xxs", 256, 66, true, false}},
    /* 17 */ {true, {"iq2_xs", 256, 74, true, false}},
    /* 18 */ {true, {"iq3_xxs", 256, 98, true, false}},
    /* 19 */ {true, {"iq1_s", 256, 50, true, false}},
    /* 20 */ {true, {"iq4_nl", 32, 18, true, false}},
    /* 21 */ {true, {"iq3_s", 256, 110, true, false}},
    /* 22 */ {true, {"iq2_s", 256, 82, true, false}},
    /* 23 */ {true, {"iq4_xs", 256, 136, true, false}},
    /* 24 */ {true, {"i8", 1, 1, false, false}},
    /* 25 */ {true, {"i16", 1, 2, false, false}},
    /* 26 */ {true, {"i32", 1, 4, false, false}},
    /* 27 */ {true, {"i64", 1, 8, false, false}},
    /* 28 */ {true, {"f64", 1, 8, false, false}},
    /* 29 */ {true, {"iq1_m", 256, 56, true, false}},
    /* 30 */ {true, {"bf16", 1, 2, false, true}},
    /* 31 */ {false, {}},
    /* 32 */ {false, {}},
    /* 33 */ {false, {}},
    /* 34 */ {true, {"tq1_0", 256, 54, true, false}},
    /* 35 */ {true, {"tq2_0", 256, 66, true, false}},
    /* 36 */ {false, {}},
    /* 37 */ {false, {}},
    /* 38 */ {false, {}},
    /* 39 */ {false, {}},
};

// mnemo's own types (issue 4), ids kFirstMnemoTypeId.. (see dtype.h). Block bytes: the codes plus
// an f16 scale (and a u8 zero point for the asymmetric ones) per group; bipolar blocks are W 64-bit
// planes and an f16 scale per 64 weights.
constexpr uint32_t kMnemoCount = 38;
constexpr Entry kMnemoTable[kMnemoCount] = {
    /* 100 */ {true, {"int4_sym_g32", 32, 18, true, true}},
    /* 101 */ {true, {"int4_sym_g64", 64, 34, true, true}},
    /* 102 */ {true, {"int4_sym_g128", 128, 66, true, true}},
    /* 103 */ {true, {"int4_asym_g32", 32, 19, true, true}},
    /* 104 */ {true, {"int4_asym_g64", 64, 35, true, true}},
    /* 105 */ {true, {"int4_asym_g128", 128, 67, true, true}},
    /* 106 */ {true, {"fp4_g32", 32, 18, true, true}},
    /* 107 */ {true, {"fp4_g64", 64, 34, true, true}},
    /* 108 */ {true, {"fp4_g128", 128, 66, true, true}},
    /* 109 */ {true, {"bitmod4_g32", 32, 18, true, true}},
    /* 110 */ {true, {"bitmod4_g64", 64, 34, true, true}},
    /* 111 */ {true, {"bitmod4_g128", 128, 66, true, true}},
    /* 112 */ {true, {"int3_sym_g32", 32, 14, true, true}},
    /* 113 */ {true, {"int3_sym_g64", 64, 26, true, true}},
    /* 114 */ {true, {"int3_sym_g128", 128, 50, true, true}},
    /* 115 */ {true, {"int3_asym_g32", 32, 15, true, true}},
    /* 116 */ {true, {"int3_asym_g64", 64, 27, true, true}},
    /* 117 */ {true, {"int3_asym_g128", 128, 51, true, true}},
    /* 118 */ {true, {"fp3_g32", 32, 14, true, true}},
    /* 119 */ {true, {"fp3_g64", 64, 26, true, true}},
    /* 120 */ {true, {"fp3_g128", 128, 50, true, true}},
    /* 121 */ {true, {"bitmod3_g32", 32, 14, true, true}},
    /* 122 */ {true, {"bitmod3_g64", 64, 26, true, true}},
    /* 123 */ {true, {"bitmod3_g128", 128, 50, true, true}},
    /* 124 */ {false, {}},
    /* 125 */ {false, {}},
    /* 126 */ {false, {}},
    /* 127 */ {false, {}},
    /* 128 */ {false, {}},
    /* 129 */ {false, {}},
    /* 130 */ {true, {"bipolar1", 64, 10, true, true}},
    /* 131 */ {true, {"bipolar2", 64, 18, true, true}},
    /* 132 */ {true, {"bipolar3", 64, 26, true, true}},
    /* 133 */ {true, {"bipolar4", 64, 34, true, true}},
    /* 134 */ {true, {"bipolar5", 64, 42, true, true}},
    /* 135 */ {true, {"bipolar6", 64, 50, true, true}},
    /* 136 */ {true, {"bipolar7", 64, 58, true, true}},
    /* 137 */ {true, {"bipolar8", 64, 66, true, true}},
};

const Entry* find_entry(uint32_t id) {
  if (id < kMaxId) return kTable[id].known ? &kTable[id] : nullptr;
  if (id >= kFirstMnemoTypeId && id - kFirstMnemoTypeId < kMnemoCount) {
    const Entry& e = kMnemoTable[id - kFirstMnemoTypeId];
    return e.known ? &e : nullptr;
  }
  return nullptr;
}

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
  const Entry* e = find_entry(id);
  if (e == nullptr) return std::nullopt;
  return e->t;
}

const DTypeTraits& traits(DType t) {
  const Entry* e = find_entry(static_cast<uint32_t>(t));
  MNEMO_CHECK(e != nullptr);
  return e->t;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto matches = [&](const Entry& e) {
    if (!e.known) return false;
    std::string n;
    for (char c : e.t.name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return n == lower;
  };
  for (uint32_t id = 0; id < kMaxId; ++id) {
    if (matches(kTable[id])) return static_cast<DType>(id);
  }
  for (uint32_t i = 0; i < kMnemoCount; ++i) {
    if (matches(kMnemoTable[i])) return static_cast<DType>(kFirstMnemoTypeId + i);
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(DType t, uint64_t n) {
  const DTypeTraits& tr = traits(t);
  if (n % tr.block_elems != 0) return std::nullopt;
  return n / tr.block_elems * tr.block_bytes;
}

}  // namespace mnemo
