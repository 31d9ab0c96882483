#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "base/strings.h"
#include "tokenizer/utf8.h"

namespace mnemo::tokenizer {

namespace {

// The regexes of llama.cpp @ c392e50, src/llama-vocab.cpp (llm_tokenizer_bpe's constructor).
constexpr const char* kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
// Llama-3's tokenizer.json regex with the case-insensitive group spelled out (llama.cpp PR 6920).
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// Qwen2: as Llama-3 but every digit is a word of its own.
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::vector<const char*> regexes_for(PreType type) {
  switch (type) {
    case PreType::kGpt2: return {kGpt2};
    case PreType::kLlama3:
    case PreType::kDbrx: return {kLlama3};
    case PreType::kQwen2: return {kQwen2};
    case PreType::kStarcoder: return {"\\p{N}", kGpt2};
    case PreType::kFalcon: return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
    case PreType::kDefault:
    default: return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  }
}

}  // namespace

bool pre_type_from_name(std::string_view name, PreTypeInfo* out) {
  struct Entry {
    const char* name;
    PreTypeInfo info;
  };
  static const Entry kTable[] = {
      {"default", {PreType::kDefault, false, false, true}},
      {"gpt-2", {PreType::kGpt2, false, false, true}},
      {"phi-2", {PreType::kGpt2, false, false, true}},
      {"jina-es", {PreType::kGpt2, false, false, true}},
      {"jina-de", {PreType::kGpt2, false, false, true}},
      {"gigachat", {PreType::kGpt2, false, false, true}},
      {"jina-v1-en", {PreType::kGpt2, false, false, true}},
      {"jina-v2-es", {PreType::kGpt2, false, false, true}},
      {"jina-v2-de", {PreType::kGpt2, false, false, true}},
      {"jina-v2-code", {PreType::kGpt2, false, false, true}},
      {"roberta-bpe", {PreType::kGpt2, false, false, true}},
      {"mpt", {PreType::kGpt2, false, false, true}},
      {"olmo", {PreType::kGpt2, false, false, true}},
      {"jais", {PreType::kGpt2, false, false, true}},
      {"llama3", {PreType::kLlama3, true, true, true}},
      {"llama-v3", {PreType::kLlama3, true, true, true}},
      {"llama-bpe", {PreType::kLlama3, true, true, true}},
      {"falcon3", {PreType::kLlama3, true, true, true}},
      {"dbrx", {PreType::kDbrx, false, false, true}},
      {"smaug-bpe", {PreType::kDbrx, false, false, true}},
      {"qwen2", {PreType::kQwen2, false, false, false}},
      {"deepseek-r1-qwen", {PreType::kQwen2, false, false, false}},
      {"megrez", {PreType::kQwen2, false, false, true}},
      {"stablelm2", {PreType::kQwen2, false, false, true}},
      {"starcoder", {PreType::kStarcoder, false, false, true}},
      {"refact", {PreType::kStarcoder, false, false, true}},
      {"command-r", {PreType::kStarcoder, false, false, false}},
      {"smollm", {PreType::kStarcoder, false, false, false}},
      {"codeshell", {PreType::kStarcoder, false, false, true}},
      {"exaone", {PreType::kStarcoder, false, false, true}},
      {"minerva-7b", {PreType::kStarcoder, false, false, true}},
      {"falcon", {PreType::kFalcon, false, false, true}},
  };
  for (const Entry& e : kTable) {
    if (name == e.name) {
      *out = e.info;
      return true;
    }
  }
  return false;
}

const char* pre_type_name(PreType type) {
  switch (type) {
    case PreType::kDefault: return "default";
    case PreType::kGpt2: return "gpt-2";
    case PreType::kLlama3: return "llama3";
    case PreType::kDbrx: return "dbrx";
    case PreType::kQwen2: return "qwen2";
    case PreType::kStarcoder: return "starcoder";
    case PreType::kFalcon: return "falcon";
  }
  return "?";
}

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Regex() {
    if (code != nullptr) pcre2_code_free(code);
  }
};

PreTokenizer::PreTokenizer(PreType type) : type_(type) {}
PreTokenizer::~PreTokenizer() = default;

Expected<std::unique_ptr<PreTokenizer>> PreTokenizer::create(PreType type) {
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer(type));
  for (const char* pattern : regexes_for(type)) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    auto re = std::make_unique<Regex>();
    re->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                             &err, &err_off, nullptr);
    if (re->code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return internal_error(str_printf("pre-tokenizer %s: expected a valid regex, found PCRE2 error at %zu: %s",
                                       pre_type_name(type), static_cast<size_t>(err_off),
                                       reinterpret_cast<const char*>(msg)));
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    pre->regexes_.push_back(std::move(re));
  }
  return pre;
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>* words) const {
  // Segments as (offset, length) into text; each regex splits every segment of the previous one.
  std::vector<std::pair<size_t, size_t>> segs{{0, text.size()}};
  std::vector<std::pair<size_t, size_t>> next;
  if (text.empty()) segs.clear();
  for (const auto& re : regexes_) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re->code, nullptr);
    if (md == nullptr) continue;  // out of memory: leave the segments unsplit by this regex
    next.clear();
    for (const auto& [seg_off, seg_len] : segs) {
      // The segment alone is the subject, so lookaheads see its end as the end of input.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + seg_off);
      size_t last = 0;  // end of the last piece emitted, relative to the segment
      size_t pos = 0;   // where the next search starts
      while (pos < seg_len) {
        int rc = pcre2_match(re->code, subject, seg_len, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && re->jit) {
          // A JIT resource limit: retry with the interpreter.
          rc = pcre2_match(re->code, subject, seg_len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
        }
        if (rc < 0) break;  // no more matches (or a match limit): the rest is one piece
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t ms = ov[0];
        const size_t me = ov[1];
        if (me <= ms) {  // empty match: step over one character
          const size_t n = utf8_valid_len(std::string_view(text.data() + seg_off, seg_len), ms);
          pos = ms + (n == 0 ? 1 : n);
          continue;
        }
        if (ms > last) next.emplace_back(seg_off + last, ms - last);
        next.emplace_back(seg_off + ms, me - ms);
        last = me;
        pos = me;
      }
      if (last < seg_len) next.emplace_back(seg_off + last, seg_len - last);
    }
    pcre2_match_data_free(md);
    segs.swap(next);
  }
  for (const auto& [off, len] : segs) words->push_back(text.substr(off, len));
}

}  // namespace mnemo::tokenizer
