// analysis/hw_profile_json.cc: hardware profiles as JSON files (include/mnemo/hw_profile.h).
//
// {"format": "mnemo-hardware-profile", "version": 1, "name": "...", "source": "...", "notes": "...",
//  "bandwidth": [{"threads": 1, "gb_s": 18.3}, {"kind": "q4_0", "threads": 1, "gb_s": 12.1}, ...],
//  "compute": [{"kind": "q4_0", "batch": 1, "threads": 1, "gflop_s": 41.5}, ...]}
// Every field is checked where it is read; an error names the field by its JSON path.
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "mnemo/hw_profile.h"
#include "mnemo/util.h"

namespace mnemo {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kFormat = "mnemo-hardware-profile";
constexpr int kVersion = 1;

std::string shown(const Json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// Readers of one field: `where` is the subject and JSON path of the field, for messages.
Expected<std::string> read_string(const Json& obj, const char* key, const std::string& where, bool required) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return corrupt(where + key + ": expected a string, found nothing");
    return std::string();
  }
  if (!it->is_string()) return corrupt(where + key + ": expected a string, found " + shown(*it));
  return it->get<std::string>();
}

Expected<int64_t> read_int(const Json& obj, const char* key, const std::string& where, int64_t min) {
  auto it = obj.find(key);
  if (it == obj.end()) return corrupt(where + key + ": expected an integer, found nothing");
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > (1ull << 40)) ||
      it->get<int64_t>() < min || it->get<int64_t>() > (int64_t{1} << 40)) {
    return corrupt(str_printf("%s%s: expected an integer >= %lld, found %s", where.c_str(), key,
                              static_cast<long long>(min), shown(*it).c_str()));
  }
  return it->get<int64_t>();
}

Expected<double> read_positive(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) return corrupt(where + key + ": expected a positive number, found nothing");
  if (!it->is_number() || !(it->get<double>() > 0) || !std::isfinite(it->get<double>())) {
    return corrupt(where + key + ": expected a positive number, found " + shown(*it));
  }
  return it->get<double>();
}

Expected<BandwidthFigure> read_bandwidth(const Json& e, const std::string& where) {
  if (!e.is_object()) return corrupt(where + ": expected an object, found " + shown(e));
  BandwidthFigure b;
  MNEMO_ASSIGN_OR_RETURN(b.kind, read_string(e, "kind", where + ".", false));
  MNEMO_ASSIGN_OR_RETURN(int64_t threads, read_int(e, "threads", where + ".", 0));
  b.threads = static_cast<int>(threads);
  MNEMO_ASSIGN_OR_RETURN(b.gb_s, read_positive(e, "gb_s", where + "."));
  return b;
}

Expected<ComputeFigure> read_compute(const Json& e, const std::string& where) {
  if (!e.is_object()) return corrupt(where + ": expected an object, found " + shown(e));
  ComputeFigure c;
  MNEMO_ASSIGN_OR_RETURN(c.kind, read_string(e, "kind", where + ".", true));
  if (c.kind.empty()) return corrupt(where + ".kind: expected a kernel kind (a weight type, attention, vector or *), found \"\"");
  MNEMO_ASSIGN_OR_RETURN(c.batch, read_int(e, "batch", where + ".", 1));
  MNEMO_ASSIGN_OR_RETURN(int64_t threads, read_int(e, "threads", where + ".", 0));
  c.threads = static_cast<int>(threads);
  MNEMO_ASSIGN_OR_RETURN(c.gflop_s, read_positive(e, "gflop_s", where + "."));
  return c;
}

}  // namespace

std::string hardware_profile_to_json(const HardwareProfile& p) {
  Json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["name"] = p.name;
  j["source"] = p.source;
  j["notes"] = p.notes;
  j["bandwidth"] = Json::array();
  for (const BandwidthFigure& b : p.bandwidth) {
    Json e;
    if (!b.kind.empty()) e["kind"] = b.kind;
    e["threads"] = b.threads;
    e["gb_s"] = b.gb_s;
    j["bandwidth"].push_back(e);
  }
  j["compute"] = Json::array();
  for (const ComputeFigure& c : p.compute) {
    j["compute"].push_back({{"kind", c.kind}, {"batch", c.batch}, {"threads", c.threads}, {"gflop_s", c.gflop_s}});
  }
  return j.dump(2) + "\n";
}

Expected<HardwareProfile> hardware_profile_from_json(const std::string& text, const std::string& subject) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return corrupt(subject + ": expected a JSON hardware profile, found malformed JSON");
  if (!j.is_object()) return corrupt(subject + ": expected a JSON object, found " + shown(j));
  const std::string where = subject + ": ";
  MNEMO_ASSIGN_OR_RETURN(std::string format, read_string(j, "format", where, true));
  if (format != kFormat) return corrupt(where + "format: expected \"" + kFormat + "\", found \"" + format + "\"");
  MNEMO_ASSIGN_OR_RETURN(int64_t version, read_int(j, "version", where, 1));
  if (version != kVersion) return unsupported(str_printf("%sversion: expected %d, found %lld", where.c_str(), kVersion,
                                                         static_cast<long long>(version)));
  HardwareProfile p;
  MNEMO_ASSIGN_OR_RETURN(p.name, read_string(j, "name", where, true));
  if (p.name.empty()) return corrupt(where + "name: expected a non-empty string, found \"\"");
  MNEMO_ASSIGN_OR_RETURN(p.source, read_string(j, "source", where, false));
  MNEMO_ASSIGN_OR_RETURN(p.notes, read_string(j, "notes", where, false));

  auto bw = j.find("bandwidth");
  if (bw == j.end() || !bw->is_array() || bw->empty()) {
    return corrupt(where + "bandwidth: expected a non-empty array, found " + (bw == j.end() ? "nothing" : shown(*bw)));
  }
  for (size_t i = 0; i < bw->size(); ++i) {
    MNEMO_ASSIGN_OR_RETURN(BandwidthFigure b, read_bandwidth((*bw)[i], where + "bandwidth[" + std::to_string(i) + "]"));
    p.bandwidth.push_back(std::move(b));
  }
  if (std::none_of(p.bandwidth.begin(), p.bandwidth.end(), [](const BandwidthFigure& b) { return b.kind.empty(); })) {
    return corrupt(where + "bandwidth: expected a figure without a kind (the general one), found only kinds");
  }
  auto cp = j.find("compute");
  if (cp == j.end() || !cp->is_array() || cp->empty()) {
    return corrupt(where + "compute: expected a non-empty array, found " + (cp == j.end() ? "nothing" : shown(*cp)));
  }
  for (size_t i = 0; i < cp->size(); ++i) {
    MNEMO_ASSIGN_OR_RETURN(ComputeFigure c, read_compute((*cp)[i], where + "compute[" + std::to_string(i) + "]"));
    p.compute.push_back(std::move(c));
  }
  return p;
}

Expected<HardwareProfile> load_hardware_profile(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return hardware_profile_from_json(text, path);
}

Status save_hardware_profile(const HardwareProfile& profile, const std::string& path) {
  return write_file_atomic(path, hardware_profile_to_json(profile));
}

}  // namespace mnemo
