#include "ltm/http_codec.h"

#include <limits>
#include <set>

#include "base/strings.h"
#include "ltm/json_codec.h"
#include "net/json_limits.h"

namespace mnemo::ltm {
namespace {

using json = nlohmann::json;

Status check_keys(const json& j, const std::set<std::string>& allowed, const std::string& subject) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key())) return invalid_argument(subject + ": unknown field " + quote_bytes(it.key()));
  return Status::ok();
}

Expected<std::string> get_string(const json& j, const char* key, const std::string& subject) {
  if (!j.contains(key) || j[key].is_null()) return std::string();
  if (!j[key].is_string()) return invalid_argument(subject + "." + key + ": expected a string");
  return j[key].get<std::string>();
}

Expected<std::vector<std::string>> get_strings(const json& j, const char* key, const std::string& subject) {
  std::vector<std::string> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  if (j[key].is_string()) return std::vector<std::string>{j[key].get<std::string>()};
  if (!j[key].is_array()) return invalid_argument(subject + "." + key + ": expected an array of strings");
  if (j[key].size() > 256) return invalid_argument(subject + "." + key + ": expected at most 256 entries");
  for (const auto& x : j[key]) {
    if (!x.is_string()) return invalid_argument(subject + "." + key + ": expected an array of strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

Expected<int64_t> get_int(const json& j, const char* key, int64_t def, const std::string& subject) {
  if (!j.contains(key) || j[key].is_null()) return def;
  const json& v = j[key];
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return invalid_argument(subject + "." + key + ": expected a 64-bit signed integer");
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (!v.is_number_integer()) return invalid_argument(subject + "." + key + ": expected an integer");
  return v.get<int64_t>();
}

Expected<bool> get_bool(const json& j, const char* key, bool def, const std::string& subject) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) return invalid_argument(subject + "." + key + ": expected true or false");
  return j[key].get<bool>();
}

// user_id / agent_id / session_id (run_id is mem0's name for a session) of a body.
Expected<Scope> body_scope(const json& j, const std::string& subject) {
  Scope s;
  MNEMO_ASSIGN_OR_RETURN(s.user_id, get_string(j, "user_id", subject));
  MNEMO_ASSIGN_OR_RETURN(s.agent_id, get_string(j, "agent_id", subject));
  MNEMO_ASSIGN_OR_RETURN(s.session_id, get_string(j, "session_id", subject));
  MNEMO_ASSIGN_OR_RETURN(std::string run, get_string(j, "run_id", subject));
  if (!run.empty()) {
    if (!s.session_id.empty() && s.session_id != run) return invalid_argument(subject + ": session_id and run_id disagree");
    s.session_id = run;
  }
  if (s.user_id.empty()) return invalid_argument(subject + ".user_id: required");
  return s;
}

Expected<std::string> get_metadata(const json& j, const std::string& subject) {
  if (!j.contains("metadata") || j["metadata"].is_null()) return std::string();
  if (!j["metadata"].is_object()) return invalid_argument(subject + ".metadata: expected a JSON object");
  // Invalid UTF-8 inside the object: dump() would throw; replace it instead (the text fields are
  // checked by the service, metadata is stored as given).
  return j["metadata"].dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

Expected<json> parse_body_object(std::string_view body) {
  if (body.empty()) return invalid_argument("request body: expected a JSON object, got nothing");
  // Before parsing: values nested deeper than this would recurse in copies, compares and dumps.
  MNEMO_RETURN_IF_ERROR(net::check_json_depth(body, "request body"));
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return invalid_argument("request body: expected a JSON object, got malformed JSON");
  if (!j.is_object()) return invalid_argument("request body: expected a JSON object");
  return j;
}

Expected<std::vector<AddRequest>> decode_add(std::string_view body) {
  MNEMO_ASSIGN_OR_RETURN(json j, parse_body_object(body));
  MNEMO_RETURN_IF_ERROR(check_keys(j, {"messages", "text", "memory", "user_id", "agent_id", "session_id", "run_id",
                                       "kind", "tags", "metadata", "event_time_ms", "source_id", "infer"},
                                   "add"));
  AddRequest base;
  MNEMO_ASSIGN_OR_RETURN(base.scope, body_scope(j, "add"));
  MNEMO_ASSIGN_OR_RETURN(base.kind, get_string(j, "kind", "add"));
  MNEMO_ASSIGN_OR_RETURN(base.tags, get_strings(j, "tags", "add"));
  MNEMO_ASSIGN_OR_RETURN(base.event_time_ms, get_int(j, "event_time_ms", 0, "add"));
  MNEMO_ASSIGN_OR_RETURN(base.source_id, get_string(j, "source_id", "add"));
  MNEMO_ASSIGN_OR_RETURN(base.infer, get_bool(j, "infer", true, "add"));
  MNEMO_ASSIGN_OR_RETURN(std::string meta, get_metadata(j, "add"));
  if (!meta.empty()) base.metadata_json = meta;
  std::vector<std::pair<std::string, std::string>> texts;  // (role, text)
  if (j.contains("messages")) {
    const json& m = j["messages"];
    if (m.is_string()) {
      texts.emplace_back("user", m.get<std::string>());
    } else if (m.is_array()) {
      if (m.size() > 100) return out_of_range("add.messages: expected at most 100 messages");
      for (size_t i = 0; i < m.size(); ++i) {
        const std::string subject = str_printf("add.messages[%zu]", i);
        if (!m[i].is_object() || !m[i].contains("content") || !m[i]["content"].is_string())
          return invalid_argument(subject + ": expected {\"role\": ..., \"content\": \"...\"}");
        MNEMO_ASSIGN_OR_RETURN(std::string role, get_string(m[i], "role", subject));
        texts.emplace_back(role, m[i]["content"].get<std::string>());
      }
    } else {
      return invalid_argument("add.messages: expected an array of messages or a string");
    }
  }
  for (const char* key : {"text", "memory"}) {
    MNEMO_ASSIGN_OR_RETURN(std::string t, get_string(j, key, "add"));
    if (!t.empty()) texts.emplace_back("", t);
  }
  if (texts.empty()) return invalid_argument("add: expected \"messages\" or \"text\"");
  std::vector<AddRequest> out;
  out.reserve(texts.size());
  for (auto& [role, t] : texts) {
    out.push_back(base);
    out.back().role = std::move(role);
    out.back().text = std::move(t);
  }
  return out;
}

Expected<SearchRequest> decode_search(std::string_view body) {
  MNEMO_ASSIGN_OR_RETURN(json j, parse_body_object(body));
  MNEMO_RETURN_IF_ERROR(check_keys(j, {"query", "user_id", "agent_id", "session_id", "run_id", "filters", "top_k",
                                       "limit", "mode", "expand_links", "touch", "now_ms", "threshold"},
                                   "search"));
  SearchRequest s;
  MNEMO_ASSIGN_OR_RETURN(s.query, get_string(j, "query", "search"));
  if (j.contains("filters") && !j["filters"].is_null()) {
    const json f = j["filters"];
    if (!f.is_object()) return invalid_argument("search.filters: expected an object");
    MNEMO_RETURN_IF_ERROR(check_keys(f, {"user_id", "agent_id", "session_id", "run_id", "kind", "kinds", "tags",
                                         "time_from_ms", "time_to_ms", "tier"},
                                     "search.filters"));
    // Scope may sit in filters (mem0 v2) or at the top; they must not disagree.
    for (const char* k : {"user_id", "agent_id", "session_id", "run_id"}) {
      if (!f.contains(k)) continue;
      if (j.contains(k) && j[k] != f[k]) return invalid_argument(std::string("search: ") + k + " given twice, differently");
      j[k] = f[k];
    }
    MNEMO_ASSIGN_OR_RETURN(s.filter.kinds, get_strings(f, "kinds", "search.filters"));
    MNEMO_ASSIGN_OR_RETURN(auto kind, get_strings(f, "kind", "search.filters"));
    s.filter.kinds.insert(s.filter.kinds.end(), kind.begin(), kind.end());
    MNEMO_ASSIGN_OR_RETURN(s.filter.tags, get_strings(f, "tags", "search.filters"));
    MNEMO_ASSIGN_OR_RETURN(s.filter.time_from_ms,
                           get_int(f, "time_from_ms", std::numeric_limits<int64_t>::min(), "search.filters"));
    MNEMO_ASSIGN_OR_RETURN(s.filter.time_to_ms,
                           get_int(f, "time_to_ms", std::numeric_limits<int64_t>::max(), "search.filters"));
    MNEMO_ASSIGN_OR_RETURN(std::string tier, get_string(f, "tier", "search.filters"));
    if (!tier.empty()) {
      MNEMO_ASSIGN_OR_RETURN(s.filter.tier, parse_tier(tier, "search.filters.tier"));
    }
  }
  MNEMO_ASSIGN_OR_RETURN(s.filter.scope, body_scope(j, "search"));
  MNEMO_ASSIGN_OR_RETURN(int64_t limit, get_int(j, "limit", 10, "search"));
  MNEMO_ASSIGN_OR_RETURN(int64_t top_k, get_int(j, "top_k", limit, "search"));
  if (top_k < 1 || top_k > 1000) return invalid_argument("search.top_k: expected 1..1000");
  s.k = static_cast<int>(top_k);
  MNEMO_ASSIGN_OR_RETURN(std::string mode, get_string(j, "mode", "search"));
  if (!mode.empty()) {
    MNEMO_ASSIGN_OR_RETURN(s.mode, parse_mode(mode, "search.mode"));
  }
  MNEMO_ASSIGN_OR_RETURN(s.expand_links, get_bool(j, "expand_links", false, "search"));
  MNEMO_ASSIGN_OR_RETURN(s.touch, get_bool(j, "touch", true, "search"));
  MNEMO_ASSIGN_OR_RETURN(s.now_ms, get_int(j, "now_ms", 0, "search"));
  if (j.contains("threshold") && !j["threshold"].is_null()) {
    // mem0's minimum score; here the cosine similarity of query and memory (checked by the service).
    if (!j["threshold"].is_number()) return invalid_argument("search.threshold: expected a number in [0, 1]");
    s.threshold = j["threshold"].get<double>();
    if (!(s.threshold >= 0.0 && s.threshold <= 1.0)) return invalid_argument("search.threshold: expected 0..1");
  }
  return s;
}

Expected<UpdateRequest> decode_update(std::string_view body, uint64_t id) {
  MNEMO_ASSIGN_OR_RETURN(json j, parse_body_object(body));
  MNEMO_RETURN_IF_ERROR(
      check_keys(j, {"user_id", "agent_id", "session_id", "run_id", "text", "memory", "tags", "metadata"}, "update"));
  UpdateRequest u;
  u.id = id;
  MNEMO_ASSIGN_OR_RETURN(u.scope, body_scope(j, "update"));
  MNEMO_ASSIGN_OR_RETURN(u.text, get_string(j, "text", "update"));
  if (u.text.empty()) {
    MNEMO_ASSIGN_OR_RETURN(u.text, get_string(j, "memory", "update"));
  }
  if (j.contains("tags")) {
    MNEMO_ASSIGN_OR_RETURN(auto tags, get_strings(j, "tags", "update"));
    u.tags = tags;
  }
  MNEMO_ASSIGN_OR_RETURN(u.metadata_json, get_metadata(j, "update"));
  if (u.text.empty() && !u.tags && u.metadata_json.empty())
    return invalid_argument("update: expected \"text\", \"tags\" or \"metadata\"");
  return u;
}

Expected<ForgetRequest> decode_forget(std::string_view body) {
  MNEMO_ASSIGN_OR_RETURN(json j, parse_body_object(body));
  MNEMO_RETURN_IF_ERROR(
      check_keys(j, {"user_id", "agent_id", "session_id", "run_id", "threshold", "now_ms", "dry_run"}, "forget"));
  ForgetRequest f;
  MNEMO_ASSIGN_OR_RETURN(f.scope, body_scope(j, "forget"));
  if (j.contains("threshold")) {
    if (!j["threshold"].is_number()) return invalid_argument("forget.threshold: expected a number");
    f.threshold = j["threshold"].get<double>();
  }
  MNEMO_ASSIGN_OR_RETURN(f.now_ms, get_int(j, "now_ms", 0, "forget"));
  MNEMO_ASSIGN_OR_RETURN(f.dry_run, get_bool(j, "dry_run", false, "forget"));
  return f;
}

Expected<Scope> decode_restore(std::string_view body) {
  MNEMO_ASSIGN_OR_RETURN(json j, parse_body_object(body));
  MNEMO_RETURN_IF_ERROR(check_keys(j, {"user_id", "agent_id", "session_id", "run_id"}, "restore"));
  return body_scope(j, "restore");
}

}  // namespace mnemo::ltm
