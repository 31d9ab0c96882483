// tokenizer/pretokenizer.h: the regex split that byte-level BPE runs before merging, through
// PCRE2 (UTF + UCP, so \p{L}, \p{N} and \s are Unicode properties).
//
// The regexes are llama.cpp's (src/llama-vocab.cpp, llm_tokenizer_bpe), chosen by the GGUF key
// tokenizer.ggml.pre. Some types apply several regexes in turn, each splitting the pieces of the
// previous one. Text between matches becomes a word of its own, so the words always cover the
// text exactly. Thread-safe: split() may be called concurrently.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::tokenizer {

enum class PreType {
  kDefault,    // no tokenizer.ggml.pre (llama.cpp warns and uses this)
  kGpt2,       // gpt-2, phi-2, roberta-bpe, jina-*, gigachat, mpt, olmo, jais
  kLlama3,     // llama3, llama-v3, llama-bpe, falcon3 (ignore_merges, BOS added)
  kDbrx,       // dbrx, smaug-bpe: the Llama-3 regex alone
  kQwen2,      // qwen2, deepseek-r1-qwen, megrez, stablelm2: like Llama-3 but digits one by one
  kStarcoder,  // starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b
  kFalcon,     // falcon
};

struct PreTypeInfo {
  PreType type;
  bool ignore_merges;  // a word that is a token is taken whole (llama.cpp's ignore_merges)
  bool add_bos;        // the default for add_bos_token
  bool clean_spaces;   // llama.cpp's clean_spaces (recorded; decode does not apply it)
};

// tokenizer.ggml.pre -> type; false for names mnemo does not handle.
bool pre_type_from_name(std::string_view name, PreTypeInfo* out);
const char* pre_type_name(PreType type);

class PreTokenizer {
 public:
  static Expected<std::unique_ptr<PreTokenizer>> create(PreType type);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  PreType type() const { return type_; }

  // Splits `text`, which must be valid UTF-8 (see utf8_sanitize), into words: views into `text`,
  // in order, covering it exactly. Appends to *words.
  void split(std::string_view text, std::vector<std::string_view>* words) const;

 private:
  explicit PreTokenizer(PreType type);
  struct Regex;
  PreType type_;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace mnemo::tokenizer
