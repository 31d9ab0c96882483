// runtime/prompt_cache.cc: llama.cpp's --prompt-cache over Context::save_sequence/load_sequence.
#include <sys/stat.h>

#include <algorithm>

#include "base/strings.h"
#include "mnemo/generate.h"

namespace mnemo {

Expected<int64_t> reuse_prompt_cache(Context& ctx, std::span<const Token> prompt, const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return int64_t{0};
  MNEMO_ASSIGN_OR_RETURN(std::vector<Token> saved, ctx.load_sequence(0, path));
  if (ctx.sequence_length(0) != static_cast<int64_t>(saved.size())) {
    (void)ctx.truncate_sequence(0, 0);
    return invalid_argument("prompt cache " + path + ": its sequence was compacted by a KV policy (" +
                            std::to_string(ctx.sequence_length(0)) + " slots for " + std::to_string(saved.size()) +
                            " tokens), so it cannot be reused as a prompt prefix");
  }
  const size_t limit = std::min(saved.size(), prompt.empty() ? 0 : prompt.size() - 1);
  size_t n = 0;
  while (n < limit && saved[n] == prompt[n]) ++n;
  MNEMO_RETURN_IF_ERROR(ctx.truncate_sequence(0, static_cast<int64_t>(n)));
  return static_cast<int64_t>(n);
}

Status save_prompt_cache(Context& ctx, std::span<const Token> tokens, const std::string& path) {
  const int64_t held = ctx.sequence_length(0), n = static_cast<int64_t>(tokens.size());
  if (held < n) {
    return invalid_argument(str_printf("save prompt cache %s: the cache holds %lld positions, fewer than the %lld tokens "
                                       "to save",
                                       path.c_str(), static_cast<long long>(held), static_cast<long long>(n)));
  }
  MNEMO_RETURN_IF_ERROR(ctx.truncate_sequence(0, n));
  return ctx.save_sequence(0, tokens, path);
}

}  // namespace mnemo
