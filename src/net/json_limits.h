// net/json_limits.h: limits on untrusted JSON checked before it is parsed.
//
// nlohmann::json parses iteratively, but copying, comparing, dumping and destroying a value
// recurse once per nesting level: 100,000 nested arrays overflowed the stack in dump() (issue 16).
// Every JSON text that comes from outside (request bodies, metadata given to the library, rows
// read back) is scanned first, in one linear pass without recursion, and refused when arrays and
// objects nest deeper than the limit. Strings (with their escapes) are skipped, so brackets
// inside them do not count. The scan does not validate: the parser still does that.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "mnemo/status.h"

namespace mnemo::net {

// Deepest nesting the memory API accepts: a request body is depth 1, its "metadata" object 2,
// so metadata may nest 30 levels more. mem0's metadata is flat in practice.
inline constexpr int kMaxJsonDepth = 32;

// The nesting depth of arrays and objects in `text`, counted up to `stop_after` + 1 (the scan
// stops there). Unbalanced closers are ignored (the parser rejects such text anyway).
int json_nesting_depth(std::string_view text, int stop_after);

// kInvalidArgument "<subject>: expected JSON nested at most N levels deep, got more" when
// `text` nests deeper than `max_depth`.
Status check_json_depth(std::string_view text, const std::string& subject, int max_depth = kMaxJsonDepth);

}  // namespace mnemo::net
