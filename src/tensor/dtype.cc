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

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
  if (id >= kMaxId || !kTable[id].known) return std::nullopt;
  return kTable[id].t;
}

const DTypeTraits& traits(DType t) {
  const uint32_t id = static_cast<uint32_t>(t);
  MNEMO_CHECK(id < kMaxId && kTable[id].known);
  return kTable[id].t;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (uint32_t id = 0; id < kMaxId; ++id) {
    if (!kTable[id].known) continue;
    std::string n;
    for (char c : kTable[id].t.name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == lower) return static_cast<DType>(id);
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(DType t, uint64_t n) {
  const DTypeTraits& tr = traits(t);
  if (n % tr.block_elems != 0) return std::nullopt;
  return n / tr.block_elems * tr.block_bytes;
}

}  // namespace mnemo
