// GGUF tokenizer.ggml.* -> SpmTokenizer (SpmFlavor::kLlamaCpp) or BpeTokenizer, following
// llama.cpp's llama_vocab::impl::load (src/llama-vocab.cpp @ c392e50) for defaults.
#include <cmath>
#include <string_view>

#include "base/log.h"
#include "base/strings.h"
#include "formats/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/loaders.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace mnemo::tokenizer {

namespace {

using gguf::GgufFile;
using gguf::Value;
using gguf::ValueType;

std::string describe(const Value& v) {
  if (v.type() == ValueType::kArray) return std::string("an array of ") + gguf::value_type_name(v.array_type());
  return std::string("a ") + gguf::value_type_name(v.type());
}

bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kUint16:
    case ValueType::kInt16:
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kUint64:
    case ValueType::kInt64: return true;
    default: return false;
  }
}

bool is_number(ValueType t) { return is_integer(t) || t == ValueType::kFloat32 || t == ValueType::kFloat64; }

// An array key with `n` elements of a kind accepted by `ok`; nullptr when absent.
Expected<const Value*> find_array(const GgufFile& f, std::string_view key, bool required, uint64_t n,
                                  bool (*ok)(ValueType), const char* what) {
  const Value* v = f.find(key);
  const std::string subject = f.path() + ": " + std::string(key);
  if (v == nullptr) {
    if (required) return not_found(subject + ": expected " + what + ", found no such key");
    return static_cast<const Value*>(nullptr);
  }
  if (v->type() != ValueType::kArray || !ok(v->array_type())) {
    return corrupt(subject + ": expected " + what + ", found " + describe(*v));
  }
  if (n != 0 && v->array_size() != n) {
    return corrupt(str_printf("%s: expected %llu elements (one per token), found %llu", subject.c_str(),
                              static_cast<unsigned long long>(n), static_cast<unsigned long long>(v->array_size())));
  }
  return v;
}

// A special token id: the key's value when present and in range, else `def` when in range, else
// none. (llama.cpp warns about an id out of range and keeps its default; 0xFFFFFFFF means none.)
Token special_id(const GgufFile& f, std::string_view key, int64_t def, int32_t n_vocab) {
  const Value* v = f.find(key);
  if (v != nullptr) {
    const std::optional<int64_t> id = v->as_i64();
    if (id && *id >= 0 && *id < n_vocab) return static_cast<Token>(*id);
    if (!(id && *id == 0xFFFFFFFFll) && !(id && *id == -1)) {
      MNEMO_LOG_WARN("%s: %s: expected a token id below %d, found %s; using the default", f.path().c_str(),
                     std::string(key).c_str(), n_vocab, id ? std::to_string(*id).c_str() : describe(*v).c_str());
    }
  }
  return def >= 0 && def < n_vocab ? static_cast<Token>(def) : -1;
}

Expected<bool> optional_bool(const GgufFile& f, std::string_view key, bool def) {
  const Value* v = f.find(key);
  if (v == nullptr) return def;
  const std::optional<bool> b = v->as_bool();
  if (!b) return corrupt(f.path() + ": " + std::string(key) + ": expected a bool, found " + describe(*v));
  return *b;
}

// Texts llama.cpp turns into control tokens whatever their stored type (end-of-generation and
// fill-in-the-middle markers).
bool forced_control_text(std::string_view s) {
  static constexpr std::string_view kTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<|eom_id|>",
      "<|fim_prefix|>", "<fim-prefix>", "<PRE>", "<|fim_suffix|>", "<fim-suffix>", "<SUF>",
      "<|fim_middle|>", "<fim-middle>", "<MID>", "<|fim_pad|>", "<fim-pad>", "<PAD>", "<|fim_repo|>",
      "<|repo_name|>", "<fim-repo>", "<REPO>", "<|file_sep|>",
      // DeepSeek: U+FF5C around, U+2581 between words
      "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
      "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
      "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>",
      "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
  };
  for (std::string_view t : kTexts) {
    if (s == t) return true;
  }
  return false;
}

}  // namespace

Expected<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const GgufFile& f) {
  const std::string& path = f.path();
  const Value* model_v = f.find("tokenizer.ggml.model");
  if (model_v == nullptr) {
    return not_found(path + ": tokenizer.ggml.model: expected a tokenizer model (\"llama\" or \"gpt2\"), "
                            "found no such key (the file has no vocabulary)");
  }
  const std::optional<std::string_view> model = model_v->as_string();
  if (!model) return corrupt(path + ": tokenizer.ggml.model: expected a string, found " + describe(*model_v));
  const bool spm = *model == "llama";
  if (!spm && *model != "gpt2") {
    return unsupported(path + ": tokenizer.ggml.model: expected \"llama\" or \"gpt2\", found " +
                       quote_bytes(*model));
  }

  MNEMO_ASSIGN_OR_RETURN(const Value* tokens_v,
                         find_array(f, "tokenizer.ggml.tokens", true, 0,
                                    [](ValueType t) { return t == ValueType::kString; }, "an array of strings"));
  const uint64_t n = tokens_v->array_size();
  if (n == 0 || n > static_cast<uint64_t>(kMaxVocab)) {
    return out_of_range(str_printf("%s: tokenizer.ggml.tokens: expected 1..%lld tokens, found %llu", path.c_str(),
                                   static_cast<long long>(kMaxVocab), static_cast<unsigned long long>(n)));
  }
  MNEMO_ASSIGN_OR_RETURN(const Value* scores_v,
                         find_array(f, "tokenizer.ggml.scores", false, n, is_number, "an array of numbers"));
  MNEMO_ASSIGN_OR_RETURN(const Value* types_v,
                         find_array(f, "tokenizer.ggml.token_type", false, n, is_integer, "an array of integers"));

  Vocab vocab;
  size_t total = 0;
  for (uint64_t i = 0; i < n; ++i) total += tokens_v->string_at(i).size();
  vocab.reserve(n, total);
  for (uint64_t i = 0; i < n; ++i) {
    const int t = static_cast<int>(i);
    std::string_view text = tokens_v->string_at(i);
    std::string empty_name;
    if (text.empty()) {
      // llama.cpp renames empty tokens so that they stay distinct.
      empty_name = "[EMPTY_" + std::to_string(i) + "]";
      text = empty_name;
    }
    if (!utf8_is_valid(text)) {
      return corrupt(str_printf("%s: tokenizer.ggml.tokens: token %d: expected valid UTF-8 text, found %s",
                                path.c_str(), t, quote_bytes(text).c_str()));
    }
    const float score = scores_v != nullptr ? static_cast<float>(scores_v->number_at(i)) : 0.0f;
    if (std::isnan(score)) {
      return corrupt(str_printf("%s: tokenizer.ggml.scores: token %d: expected a number, found NaN", path.c_str(), t));
    }
    TokenAttr attr = types_v != nullptr ? attr_from_gguf_type(types_v->int_at(i)) : TokenAttr::kNormal;
    uint8_t byte = 0;
    if (attr == TokenAttr::kByte && spm && !parse_byte_token(text, &byte)) {
      return corrupt(str_printf("%s: tokenizer.ggml.token_type: token %d: a byte token must read \"<0xHH>\", found %s",
                                path.c_str(), t, quote_bytes(text).c_str()));
    }
    if (forced_control_text(text)) attr = TokenAttr::kControl;
    vocab.add(text, score, attr);
  }
  MNEMO_RETURN_IF_ERROR(vocab.finish(path + ": tokenizer.ggml.tokens"));
  const int32_t n_vocab = vocab.size();

  VocabFlags flags;
  PreTypeInfo pre{PreType::kDefault, false, false, true};
  if (spm) {
    flags.add_bos = true;
    flags.add_eos = false;
    flags.add_space_prefix = true;
  } else {
    std::string pre_name = "default";
    if (const Value* pre_v = f.find("tokenizer.ggml.pre"); pre_v != nullptr) {
      const std::optional<std::string_view> s = pre_v->as_string();
      if (!s) return corrupt(path + ": tokenizer.ggml.pre: expected a string, found " + describe(*pre_v));
      pre_name = std::string(*s);
    } else {
      MNEMO_LOG_WARN("%s: tokenizer.ggml.pre: missing, using the default pre-tokenizer (as llama.cpp does)",
                     path.c_str());
    }
    if (!pre_type_from_name(pre_name, &pre)) {
      return unsupported(path + ": tokenizer.ggml.pre: expected a known pre-tokenizer (gpt-2, llama3, qwen2, "
                                "dbrx, starcoder, falcon, default, ...), found " + quote_bytes(pre_name));
    }
    flags.add_bos = pre.add_bos;
    flags.add_eos = false;
    flags.add_space_prefix = false;
  }
  MNEMO_ASSIGN_OR_RETURN(flags.add_space_prefix,
                         optional_bool(f, "tokenizer.ggml.add_space_prefix", flags.add_space_prefix));
  MNEMO_ASSIGN_OR_RETURN(flags.add_bos, optional_bool(f, "tokenizer.ggml.add_bos_token", flags.add_bos));
  MNEMO_ASSIGN_OR_RETURN(flags.add_eos, optional_bool(f, "tokenizer.ggml.add_eos_token", flags.add_eos));

  // llama.cpp's defaults: SPM bos 1, eos 2, unk 0; gpt2 bos = eos = 11, no unk.
  SpecialIds ids;
  ids.bos = special_id(f, "tokenizer.ggml.bos_token_id", spm ? 1 : 11, n_vocab);
  ids.eos = special_id(f, "tokenizer.ggml.eos_token_id", spm ? 2 : 11, n_vocab);
  ids.unk = special_id(f, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n_vocab);
  ids.pad = special_id(f, "tokenizer.ggml.padding_token_id", -1, n_vocab);

  if (spm) return std::unique_ptr<Tokenizer>(SpmTokenizer::create(std::move(vocab), ids, flags, SpmFlavor::kLlamaCpp));

  MNEMO_ASSIGN_OR_RETURN(const Value* merges_v,
                         find_array(f, "tokenizer.ggml.merges", true, 0,
                                    [](ValueType t) { return t == ValueType::kString; }, "an array of strings"));
  std::vector<std::string_view> merges;
  merges.reserve(merges_v->array_size());
  for (uint64_t i = 0; i < merges_v->array_size(); ++i) merges.push_back(merges_v->string_at(i));
  MNEMO_ASSIGN_OR_RETURN(auto bpe, BpeTokenizer::create(std::move(vocab), ids, flags, merges, pre,
                                                        path + ": tokenizer.ggml.merges"));
  return std::unique_ptr<Tokenizer>(std::move(bpe));
}

}  // namespace mnemo::tokenizer
