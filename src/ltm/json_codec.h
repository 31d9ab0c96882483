// ltm/json_codec.h: the JSON shapes of the memory API (mem0-like), shared by the HTTP server and
// the CLI's --json output.
//
// A memory: {"id": "12", "memory": "...", "user_id", "agent_id", "session_id", "kind", "tags",
// "keywords", "context", "links": ["3", ...], "sources", "metadata": {...}, "event_time_ms",
// "created_ms", "updated_ms", "strength", "last_access_ms", "access_count", "retention",
// "tier": "hot"|"cold"}. Ids are decimal strings (as mem0's are strings).
#pragma once

#include <nlohmann/json.hpp>

#include "mnemo/memory.h"

namespace mnemo::ltm {

nlohmann::json to_json(const MemoryRecord& m);
nlohmann::json to_json(const SearchHit& h);
nlohmann::json to_json(const HistoryEntry& h);
nlohmann::json to_json(const AddResult& r);

// "12" or 12 -> 12; errors name `subject`.
Expected<uint64_t> parse_id(const nlohmann::json& v, const std::string& subject);
Expected<uint64_t> parse_id(const std::string& s, const std::string& subject);
const char* tier_name(Tier t);
Expected<Tier> parse_tier(const std::string& s, const std::string& subject);
Expected<SearchMode> parse_mode(const std::string& s, const std::string& subject);

}  // namespace mnemo::ltm
