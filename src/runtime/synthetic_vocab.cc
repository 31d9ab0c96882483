#include "runtime/synthetic_vocab.h"

#include <set>

#include "base/check.h"
#include "base/strings.h"

namespace mnemo {

SpmVocab synthetic_spm_vocab(int64_t n_vocab) {
  MNEMO_CHECK(n_vocab >= 300);
  SpmVocab v;
  auto add = [&](std::string t, float score, int32_t type) {
    v.tokens.push_back(std::move(t));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0.0f, 2);
  add("<s>", 0.0f, 3);
  add("</s>", 0.0f, 3);
  for (int b = 0; b < 256; ++b) add(str_printf("<0x%02X>", b), 0.0f, 6);
  const std::string space = "\xe2\x96\x81";  // U+2581, SentencePiece's space
  std::set<std::string> seen(v.tokens.begin(), v.tokens.end());
  float score = -1.0f;
  auto add_normal = [&](const std::string& t) {
    if (static_cast<int64_t>(v.tokens.size()) >= n_vocab || !seen.insert(t).second) return;
    add(t, score, 1);
    score -= 1.0f;
  };
  add_normal(space);
  for (int c = 0x21; c < 0x7f; ++c) add_normal(std::string(1, static_cast<char>(c)));
  const std::string alnum = "etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ0123456789";
  for (char c : alnum) add_normal(space + c);
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  for (char a : letters) {
    for (char b : letters) {
      add_normal(space + a + b);
      add_normal(std::string() + a + b);
    }
  }
  for (char a : letters) {
    for (char b : letters) {
      for (char c : letters) {
        add_normal(space + a + b + c);
        add_normal(std::string() + a + b + c);
      }
    }
  }
  // Beyond 3-grams: numbered pieces keep the vocabulary unique for any size.
  for (int64_t i = 0; static_cast<int64_t>(v.tokens.size()) < n_vocab; ++i) add_normal(str_printf("%s#%lld", space.c_str(), static_cast<long long>(i)));
  return v;
}

}  // namespace mnemo
