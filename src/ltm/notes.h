// ltm/notes.h: A-MEM note construction and memory evolution (Xu et al., arXiv 2502.12110).
//
// With an LLM: one call fills a new note's keywords, tags, context line and kind (the JSON schema
// of A-MEM's analyze_content, plus the SCM partition); a second call, given the note and its
// nearest neighbours, decides whether to evolve: strengthen (link the note to suggested
// neighbours, update its tags) and/or update_neighbor (rewrite the neighbours' context and tags).
// Without an LLM the keywords are the note's rarest words and nothing evolves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/memory.h"

namespace mnemo::ltm {

struct NoteFields {
  std::vector<std::string> keywords;
  std::vector<std::string> tags;
  std::string context;
  std::string kind;  // empty: keep the caller's
};

Expected<NoteFields> llm_note_fields(const LlmConfig& llm, const std::string& text);

struct NeighbourNote {
  uint64_t id = 0;
  std::string text;
  std::string context;
  std::vector<std::string> tags;
};

struct Evolution {
  bool evolve = false;
  std::vector<uint64_t> connect;         // strengthen: ids (among the neighbours) to link
  std::vector<std::string> note_tags;    // strengthen: the new note's tags (empty: unchanged)
  struct NeighbourUpdate {
    uint64_t id = 0;
    std::string context;
    std::vector<std::string> tags;
  };
  std::vector<NeighbourUpdate> updates;  // update_neighbor
};

Expected<Evolution> llm_evolution(const LlmConfig& llm, const std::string& text, const NoteFields& note,
                                  const std::vector<NeighbourNote>& neighbours);

}  // namespace mnemo::ltm
