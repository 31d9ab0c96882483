// tests/tokenizer/tokenizer_data_util.h: readers for the tokenizer's reference files.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mnemo/tokenizer.h"

namespace mnemo::test {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Undoes the escapes of tests/data/tokenizer/*.tsv inputs: \n \t \\ \xHH.
inline std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[++i];
      if (c == 'n') {
        out += '\n';
      } else if (c == 't') {
        out += '\t';
      } else if (c == '\\') {
        out += '\\';
      } else if (c == 'x' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += '\\';
        out += c;
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

inline std::vector<Token> parse_ids(const std::string& s) {
  std::vector<Token> ids;
  std::istringstream in(s);
  long long v;
  while (in >> v) ids.push_back(static_cast<Token>(v));
  return ids;
}

inline std::string ids_str(const std::vector<Token>& ids) {
  std::string s;
  for (Token t : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(t);
  }
  return s;
}

}  // namespace mnemo::test
