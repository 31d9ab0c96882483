#include "ltm/notes.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "ltm/llm.h"

namespace mnemo::ltm {
namespace {

std::vector<std::string> strings_of(const nlohmann::json& j, size_t max_n, size_t max_len) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& x : j) {
    if (out.size() >= max_n) break;
    if (x.is_string() && !x.get<std::string>().empty()) out.push_back(x.get<std::string>().substr(0, max_len));
  }
  return out;
}

}  // namespace

Expected<NoteFields> llm_note_fields(const LlmConfig& llm, const std::string& text) {
  std::string prompt =
      "Generate a structured analysis of the following content by:\n"
      "1. Identifying the most salient keywords (focus on nouns, verbs, and key concepts)\n"
      "2. Extracting core themes and contextual elements into one sentence of context\n"
      "3. Creating relevant categorical tags\n"
      "4. Classifying it as one kind: fact, event or preference\n\n"
      "Format the response as a JSON object:\n"
      "{\"keywords\": [...], \"context\": \"...\", \"tags\": [...], \"kind\": \"fact|event|preference\"}\n\n"
      "Content for analysis:\n" +
      text;
  MNEMO_ASSIGN_OR_RETURN(std::string answer, chat_complete(llm, {{"user", prompt}}));
  MNEMO_ASSIGN_OR_RETURN(nlohmann::json j, extract_json_object(answer));
  NoteFields f;
  if (j.contains("keywords")) f.keywords = strings_of(j["keywords"], 16, 64);
  if (j.contains("tags")) f.tags = strings_of(j["tags"], 16, 64);
  if (j.contains("context") && j["context"].is_string()) f.context = j["context"].get<std::string>().substr(0, 512);
  if (j.contains("kind") && j["kind"].is_string()) {
    std::string k = j["kind"].get<std::string>();
    if (k == "fact" || k == "event" || k == "preference") f.kind = k;
  }
  return f;
}

Expected<Evolution> llm_evolution(const LlmConfig& llm, const std::string& text, const NoteFields& note,
                                  const std::vector<NeighbourNote>& neighbours) {
  Evolution ev;
  if (neighbours.empty()) return ev;
  nlohmann::json nb = nlohmann::json::array();
  for (size_t i = 0; i < neighbours.size(); ++i) {
    nb.push_back({{"index", i},
                  {"id", neighbours[i].id},
                  {"content", neighbours[i].text},
                  {"context", neighbours[i].context},
                  {"tags", neighbours[i].tags}});
  }
  std::string prompt =
      "You are an AI memory evolution agent responsible for managing and evolving a knowledge base.\n"
      "Analyze the new memory note and its nearest neighbours, and decide whether it should evolve.\n\n"
      "New memory: " + text + "\nContext: " + note.context + "\nKeywords: " + nlohmann::json(note.keywords).dump() +
      "\nTags: " + nlohmann::json(note.tags).dump() + "\n\nNearest neighbours (JSON):\n" + nb.dump() +
      "\n\nActions: \"strengthen\" links the new memory to neighbours (suggested_connections: their ids) and "
      "updates its tags (tags_to_update); \"update_neighbor\" rewrites the neighbours' context and tags "
      "(new_context_neighborhood and new_tags_neighborhood, one entry per neighbour, in order).\n"
      "Return a JSON object: {\"should_evolve\": true|false, \"actions\": [...], \"suggested_connections\": [...],"
      " \"tags_to_update\": [...], \"new_context_neighborhood\": [...], \"new_tags_neighborhood\": [[...], ...]}";
  MNEMO_ASSIGN_OR_RETURN(std::string answer, chat_complete(llm, {{"user", prompt}}, 1024));
  MNEMO_ASSIGN_OR_RETURN(nlohmann::json j, extract_json_object(answer));
  ev.evolve = j.contains("should_evolve") && j["should_evolve"].is_boolean() && j["should_evolve"].get<bool>();
  if (!ev.evolve) return ev;
  std::vector<std::string> actions = j.contains("actions") ? strings_of(j["actions"], 4, 32) : std::vector<std::string>{};
  auto has = [&](const char* a) { return std::find(actions.begin(), actions.end(), a) != actions.end(); };
  if (has("strengthen")) {
    if (j.contains("suggested_connections") && j["suggested_connections"].is_array()) {
      for (const auto& x : j["suggested_connections"]) {
        if (!x.is_number_unsigned()) continue;
        uint64_t id = x.get<uint64_t>();
        // Only the neighbours shown may be linked (an LLM must not reach other notes).
        for (const auto& n : neighbours)
          if (n.id == id && std::find(ev.connect.begin(), ev.connect.end(), id) == ev.connect.end())
            ev.connect.push_back(id);
      }
    }
    if (j.contains("tags_to_update")) ev.note_tags = strings_of(j["tags_to_update"], 16, 64);
  }
  if (has("update_neighbor")) {
    const nlohmann::json ctx = j.contains("new_context_neighborhood") ? j["new_context_neighborhood"] : nlohmann::json();
    const nlohmann::json tags = j.contains("new_tags_neighborhood") ? j["new_tags_neighborhood"] : nlohmann::json();
    for (size_t i = 0; i < neighbours.size(); ++i) {
      Evolution::NeighbourUpdate u;
      u.id = neighbours[i].id;
      u.context = neighbours[i].context;
      u.tags = neighbours[i].tags;
      bool changed = false;
      if (ctx.is_array() && i < ctx.size() && ctx[i].is_string()) {
        std::string c = ctx[i].get<std::string>().substr(0, 512);
        if (c != u.context) {
          u.context = c;
          changed = true;
        }
      }
      if (tags.is_array() && i < tags.size() && tags[i].is_array()) {
        auto t = strings_of(tags[i], 16, 64);
        if (t != u.tags) {
          u.tags = t;
          changed = true;
        }
      }
      if (changed) ev.updates.push_back(std::move(u));
    }
  }
  return ev;
}

}  // namespace mnemo::ltm
