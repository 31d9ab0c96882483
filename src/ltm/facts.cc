#include "ltm/facts.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "ltm/text.h"

namespace mnemo::ltm {
namespace {

struct Word {
  std::string stem;
  bool salient = false;  // has a digit, or is capitalised away from a sentence start
};

// The words of a text (runs of ASCII letters/digits or non-ASCII bytes), with their salience.
std::vector<Word> words_of(std::string_view text) {
  std::vector<Word> out;
  bool sentence_start = true;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool word_byte = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
    if (!word_byte) {
      if (c == '.' || c == '!' || c == '?' || c == ':' || c == '\n' || c == '"') sentence_start = true;
      ++i;
      continue;
    }
    size_t j = i;
    bool digit = false;
    while (j < text.size()) {
      const unsigned char d = static_cast<unsigned char>(text[j]);
      if (!((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9') || d >= 0x80)) break;
      if (d >= '0' && d <= '9') digit = true;
      ++j;
    }
    std::string w(text.substr(i, j - i));
    const bool capital = w[0] >= 'A' && w[0] <= 'Z';
    for (char& ch : w)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    // "I" is capitalised everywhere and names nobody.
    const bool name_like = capital && !sentence_start && w != "i";
    out.push_back({porter_stem(w), digit || name_like});
    sentence_start = false;
    i = j;
  }
  return out;
}

}  // namespace

bool same_facts(std::string_view old_text, std::string_view new_text) {
  const std::vector<Word> a = words_of(old_text), b = words_of(new_text);
  std::set<std::string> sa, sb, salient;
  for (const Word& w : a) sa.insert(w.stem);
  for (const Word& w : b) sb.insert(w.stem);
  for (const Word& w : a)
    if (w.salient) salient.insert(w.stem);
  for (const Word& w : b)
    if (w.salient) salient.insert(w.stem);
  bool only_a = false, only_b = false;
  for (const std::string& s : sa) {
    if (sb.count(s)) continue;
    if (salient.count(s)) return false;
    only_a = true;
  }
  for (const std::string& s : sb) {
    if (sa.count(s)) continue;
    if (salient.count(s)) return false;
    only_b = true;
  }
  return !(only_a && only_b);
}

bool is_acknowledgement(std::string_view text) {
  // Generic English acknowledgements and the function words around them (surface forms, stemmed
  // once); not taken from any data set.
  static const std::set<std::string> kAck = [] {
    const char* words[] = {
        "a",       "absolutely", "add",     "added",   "all",    "alright",   "am",      "and",      "anything",
        "appreciate", "awesome", "be",      "can",     "certainly", "cool",   "course",  "do",       "done",
        "else",    "fine",       "for",     "glad",    "good",   "got",       "gotcha",  "great",    "happy",
        "have",    "hear",       "help",    "i",       "if",     "in",        "information", "is",   "it",
        "just",    "keep",       "kept",    "know",    "let",    "ll",        "m",       "made",     "me",
        "memory",  "mention",    "mind",    "my",      "nice",   "no",        "note",    "noted",    "now",
        "of",      "ok",         "okay",    "perfect", "problem", "recorded", "remember", "right",   "s",
        "save",    "saved",      "share",   "sharing", "so",     "sound",     "sounds",  "store",    "stored",
        "sure",    "tell",       "telling", "thank",   "thanks", "that",      "the",     "this",     "to",
        "understood", "ve",      "was",     "will",    "with",   "wonderful", "yes",     "yep",      "you",
        "your"};
    std::set<std::string> out;
    for (const char* w : words) out.insert(porter_stem(w));
    return out;
  }();
  const std::vector<Word> ws = words_of(text);
  if (ws.empty() || ws.size() > 24) return false;
  for (const Word& w : ws) {
    if (std::any_of(w.stem.begin(), w.stem.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    if (!kAck.count(w.stem)) return false;
  }
  return true;
}

}  // namespace mnemo::ltm
