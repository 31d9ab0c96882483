#include "ltm/text.h"

#include <cstring>

namespace mnemo::ltm {
namespace {

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// Porter (1980). `b` is the word; k is the index of its last letter (the paper's k), j a mark.
class Porter {
 public:
  explicit Porter(std::string_view w) : b_(w) {}

  std::string run() {
    if (b_.size() <= 2) return b_;
    k_ = static_cast<int>(b_.size()) - 1;
    step1ab();
    if (k_ > 0) {
      step1c();
      step2();
      step3();
      step4();
      step5();
    }
    return b_.substr(0, k_ + 1);
  }

 private:
  bool cons(int i) const {
    switch (b_[i]) {
      case 'a': case 'e': case 'i': case 'o': case 'u': return false;
      case 'y': return i == 0 ? true : !cons(i - 1);
      default: return true;
    }
  }
  // m(): the number of VC sequences in b[0..j].
  int m() const {
    int n = 0, i = 0;
    for (;;) {
      if (i > j_) return n;
      if (!cons(i)) break;
      ++i;
    }
    ++i;
    for (;;) {
      for (;;) {
        if (i > j_) return n;
        if (cons(i)) break;
        ++i;
      }
      ++i;
      ++n;
      for (;;) {
        if (i > j_) return n;
        if (!cons(i)) break;
        ++i;
      }
      ++i;
    }
  }
  bool vowel_in_stem() const {
    for (int i = 0; i <= j_; ++i)
      if (!cons(i)) return true;
    return false;
  }
  bool doublec(int j) const { return j >= 1 && b_[j] == b_[j - 1] && cons(j); }
  bool cvc(int i) const {
    if (i < 2 || !cons(i) || cons(i - 1) || !cons(i - 2)) return false;
    char ch = b_[i];
    return !(ch == 'w' || ch == 'x' || ch == 'y');
  }
  bool ends(const char* s) {
    int len = static_cast<int>(std::strlen(s));
    if (len > k_ + 1) return false;
    if (b_.compare(k_ - len + 1, len, s) != 0) return false;
    j_ = k_ - len;
    return true;
  }
  void setto(const char* s) {
    int len = static_cast<int>(std::strlen(s));
    b_.replace(j_ + 1, k_ - j_, s);
    k_ = j_ + len;
    b_.resize(k_ + 1);
  }
  void r(const char* s) {
    if (m() > 0) setto(s);
  }
  void step1ab() {
    if (b_[k_] == 's') {
      if (ends("sses")) k_ -= 2;
      else if (ends("ies")) setto("i");
      else if (b_[k_ - 1] != 's') --k_;
    }
    b_.resize(k_ + 1);
    if (ends("eed")) {
      if (m() > 0) --k_;
    } else if ((ends("ed") || ends("ing")) && vowel_in_stem()) {
      k_ = j_;
      b_.resize(k_ + 1);
      if (ends("at")) setto("ate");
      else if (ends("bl")) setto("ble");
      else if (ends("iz")) setto("ize");
      else if (doublec(k_)) {
        --k_;
        char ch = b_[k_];
        if (ch == 'l' || ch == 's' || ch == 'z') ++k_;
      } else if (j_ = k_, m() == 1 && cvc(k_)) {
        j_ = k_;
        setto("e");
      }
    }
    b_.resize(k_ + 1);
  }
  void step1c() {
    if (ends("y") && vowel_in_stem()) b_[k_] = 'i';
  }
  void step2() {
    if (k_ < 1) return;
    switch (b_[k_ - 1]) {
      case 'a':
        if (ends("ational")) { r("ate"); break; }
        if (ends("tional")) { r("tion"); break; }
        break;
      case 'c':
        if (ends("enci")) { r("ence"); break; }
        if (ends("anci")) { r("ance"); break; }
        break;
      case 'e':
        if (ends("izer")) { r("ize"); break; }
        break;
      case 'l':
        if (ends("bli")) { r("ble"); break; }
        if (ends("alli")) { r("al"); break; }
        if (ends("entli")) { r("ent"); break; }
        if (ends("eli")) { r("e"); break; }
        if (ends("ousli")) { r("ous"); break; }
        break;
      case 'o':
        if (ends("ization")) { r("ize"); break; }
        if (ends("ation")) { r("ate"); break; }
        if (ends("ator")) { r("ate"); break; }
        break;
      case 's':
        if (ends("alism")) { r("al"); break; }
        if (ends("iveness")) { r("ive"); break; }
        if (ends("fulness")) { r("ful"); break; }
        if (ends("ousness")) { r("ous"); break; }
        break;
      case 't':
        if (ends("aliti")) { r("al"); break; }
        if (ends("iviti")) { r("ive"); break; }
        if (ends("biliti")) { r("ble"); break; }
        break;
      case 'g':
        if (ends("logi")) { r("log"); break; }
        break;
    }
    b_.resize(k_ + 1);
  }
  void step3() {
    switch (b_[k_]) {
      case 'e':
        if (ends("icate")) { r("ic"); break; }
        if (ends("ative")) { r(""); break; }
        if (ends("alize")) { r("al"); break; }
        break;
      case 'i':
        if (ends("iciti")) { r("ic"); break; }
        break;
      case 'l':
        if (ends("ical")) { r("ic"); break; }
        if (ends("ful")) { r(""); break; }
        break;
      case 's':
        if (ends("ness")) { r(""); break; }
        break;
    }
    b_.resize(k_ + 1);
  }
  void step4() {
    if (k_ < 1) return;
    switch (b_[k_ - 1]) {
      case 'a': if (ends("al")) break; return;
      case 'c': if (ends("ance") || ends("ence")) break; return;
      case 'e': if (ends("er")) break; return;
      case 'i': if (ends("ic")) break; return;
      case 'l': if (ends("able") || ends("ible")) break; return;
      case 'n':
        if (ends("ant") || ends("ement") || ends("ment") || ends("ent")) break;
        return;
      case 'o':
        if (ends("ion") && j_ >= 0 && (b_[j_] == 's' || b_[j_] == 't')) break;
        if (ends("ou")) break;
        return;
      case 's': if (ends("ism")) break; return;
      case 't': if (ends("ate") || ends("iti")) break; return;
      case 'u': if (ends("ous")) break; return;
      case 'v': if (ends("ive")) break; return;
      case 'z': if (ends("ize")) break; return;
      default: return;
    }
    if (m() > 1) {
      k_ = j_;
      b_.resize(k_ + 1);
    }
  }
  void step5() {
    j_ = k_;
    if (b_[k_] == 'e') {
      j_ = k_ - 1;
      int a = m();
      if (a > 1 || (a == 1 && !cvc(k_ - 1))) --k_;
    }
    b_.resize(k_ + 1);
    j_ = k_;
    if (b_[k_] == 'l' && doublec(k_) && m() > 1) --k_;
    b_.resize(k_ + 1);
  }

  std::string b_;
  int k_ = 0;
  int j_ = 0;
};

bool all_lower_alpha(std::string_view w) {
  for (char c : w)
    if (c < 'a' || c > 'z') return false;
  return true;
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0, n = text.size();
  while (i < n) {
    while (i < n && !is_word_byte(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < n && is_word_byte(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) {
      std::string w(text.substr(start, i - start));
      for (char& c : w)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      out.push_back(std::move(w));
    }
  }
  return out;
}

std::string porter_stem(std::string_view word) {
  if (word.size() <= 2 || !all_lower_alpha(word)) return std::string(word);
  return Porter(word).run();
}

std::vector<std::string> stemmed_tokens(std::string_view text) {
  std::vector<std::string> toks = tokenize(text);
  for (std::string& t : toks) t = porter_stem(t);
  return toks;
}

std::string normal_form(std::string_view text) {
  std::string out;
  for (const std::string& t : tokenize(text)) {
    if (!out.empty()) out.push_back(' ');
    out += t;
  }
  return out;
}

uint64_t fnv1a64(std::string_view s, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

int approx_tokens(std::string_view text) { return static_cast<int>((text.size() + 3) / 4); }

bool valid_utf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    i += len;
  }
  return true;
}

}  // namespace mnemo::ltm
