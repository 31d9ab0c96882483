#include "ltm/json_codec.h"

#include "base/strings.h"
#include "net/json_limits.h"

namespace mnemo::ltm {

const char* add_event_name(AddEvent e) {
  switch (e) {
    case AddEvent::kAdd: return "ADD";
    case AddEvent::kUpdate: return "UPDATE";
    case AddEvent::kNone: return "NONE";
  }
  return "?";
}

const char* tier_name(Tier t) { return t == Tier::kCold ? "cold" : t == Tier::kAll ? "all" : "hot"; }

Expected<Tier> parse_tier(const std::string& s, const std::string& subject) {
  if (s == "hot") return Tier::kHot;
  if (s == "cold") return Tier::kCold;
  if (s == "all") return Tier::kAll;
  return invalid_argument(subject + ": expected hot, cold or all, got " + quote_bytes(s));
}

Expected<SearchMode> parse_mode(const std::string& s, const std::string& subject) {
  if (s == "hybrid") return SearchMode::kHybrid;
  if (s == "bm25") return SearchMode::kBm25;
  if (s == "vector") return SearchMode::kVector;
  return invalid_argument(subject + ": expected hybrid, bm25 or vector, got " + quote_bytes(s));
}

nlohmann::json to_json(const MemoryRecord& m) {
  nlohmann::json links = nlohmann::json::array();
  for (uint64_t l : m.links) links.push_back(std::to_string(l));
  // Stored metadata passed the same depth check when written; a row from an older build may not
  // have: it is shown as empty rather than recursed into.
  nlohmann::json meta = net::json_nesting_depth(m.metadata_json, net::kMaxJsonDepth) > net::kMaxJsonDepth
                            ? nlohmann::json::object()
                            : nlohmann::json::parse(m.metadata_json, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) meta = nlohmann::json::object();
  return {{"id", std::to_string(m.id)},
          {"memory", m.text},
          {"user_id", m.scope.user_id},
          {"agent_id", m.scope.agent_id},
          {"session_id", m.scope.session_id},
          {"kind", m.kind},
          {"tags", m.tags},
          {"keywords", m.keywords},
          {"context", m.context},
          {"links", links},
          {"sources", m.sources},
          {"metadata", meta},
          {"event_time_ms", m.event_time_ms},
          {"created_ms", m.created_ms},
          {"updated_ms", m.updated_ms},
          {"strength", m.strength},
          {"last_access_ms", m.last_access_ms},
          {"access_count", m.access_count},
          {"retention", m.retention},
          {"tier", tier_name(m.tier)}};
}

nlohmann::json to_json(const SearchHit& h) {
  nlohmann::json j = to_json(h.memory);
  j["score"] = h.score;
  j["bm25"] = h.bm25;
  j["similarity"] = h.similarity;
  j["matched"] = h.matched;  // matched the query: counted as a recall when the search touched
  if (h.via_link) j["via_link"] = true;
  return j;
}

nlohmann::json to_json(const HistoryEntry& h) {
  nlohmann::json detail = nlohmann::json::parse(h.detail_json, nullptr, false);
  if (detail.is_discarded()) detail = nlohmann::json::object();
  return {{"seq", h.seq},
          {"memory_id", std::to_string(h.memory_id)},
          {"event", h.event},
          {"old_memory", h.old_text},
          {"new_memory", h.new_text},
          {"detail", detail},
          {"at_ms", h.at_ms}};
}

nlohmann::json to_json(const AddResult& r) {
  return {{"id", std::to_string(r.id)}, {"memory", r.text}, {"event", add_event_name(r.event)}};
}

std::string to_json_string(const MemoryRecord& m) { return to_json(m).dump(); }
std::string to_json_string(const SearchHit& h) { return to_json(h).dump(); }
std::string to_json_string(const HistoryEntry& h) { return to_json(h).dump(); }
std::string to_json_string(const AddResult& r) { return to_json(r).dump(); }

Expected<uint64_t> parse_id(const std::string& s, const std::string& subject) {
  int64_t v = 0;
  if (!parse_int64(s, &v) || v <= 0) return invalid_argument(subject + ": expected a memory id, got " + quote_bytes(s));
  return static_cast<uint64_t>(v);
}

Expected<uint64_t> parse_id(const nlohmann::json& v, const std::string& subject) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > 0) return v.get<uint64_t>();
  if (v.is_string()) return parse_id(v.get<std::string>(), subject);
  return invalid_argument(subject + ": expected a memory id (a string of digits)");
}

}  // namespace mnemo::ltm
