// mnemo/tokenizer.h: text <-> token ids.
//
// Two families, chosen by the vocabulary:
//  - SentencePiece-style BPE with byte fallback ("llama"): llama2.c tokenizer.bin files and GGUF
//    tokenizer.ggml.model = "llama". Merges are taken by score; unknown characters become byte
//    tokens <0xNN>; a space is prefixed to the text (add_space_prefix) as SentencePiece does.
//  - Byte-level BPE ("gpt2"): GGUF tokenizer.ggml.model = "gpt2" with ranked merges, after a
//    pre-tokenizer split (GPT-2, Llama-3 or Qwen2 regex, chosen by tokenizer.ggml.pre).
// Keys absent from a GGUF take llama.cpp's defaults (SPM: BOS added, EOS not, space prefix).
//
// Which reference each vocabulary follows, exactly (ids as they would compute them):
//  - tokenizer.bin: llama2.c's run.c encode() (BOS = 1, EOS = 2, unk = 0; the dummy-prefix space;
//    a character not in the vocabulary becomes byte tokens before merging; merges need a score
//    above -1e10). Ids 0..2 are <unk>, <s>, </s> whatever their stored text.
//  - GGUF "llama": llama.cpp's llm_tokenizer_spm (spaces escaped to U+2581 before lookup).
//  - GGUF "gpt2": llama.cpp's llm_tokenizer_bpe with tokenizer.ggml.pre selecting the regexes.
// So tok512.bin and stories260K.gguf (converted from it) give the same ids for any valid UTF-8
// text without a literal U+2581 (llama.cpp reads that as a space), and the same decoded bytes.
// Special tokens (control, unknown, user-defined) are split out of the text first, as llama.cpp's
// tokenizer_st_partition does: user-defined tokens always, control/unknown with parse_special.
//
// Loading treats files as hostile: truncated or oversized fields, invalid UTF-8 in token texts,
// duplicate texts, NaN scores and malformed merges are errors (kCorrupt / kOutOfRange /
// kUnsupported) that name the file and field; special ids out of range fall back to the defaults
// (or to none), as in llama.cpp. Text given to encode() may be any bytes.
//
// Thread-safety: a Tokenizer is immutable after load; all methods are const and may be called
// concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/status.h"

namespace mnemo {

using Token = int32_t;

enum class TokenizerKind { kSpm, kBpe };

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads a llama2.c tokenizer.bin, or the vocabulary of any GGUF file (model or vocab-only).
  static Expected<std::unique_ptr<Tokenizer>> load(const std::string& path);

  virtual TokenizerKind kind() const = 0;
  virtual int32_t n_vocab() const = 0;

  // Token ids of `text`. add_bos prepends BOS when the vocabulary has one; EOS is never appended
  // (callers add eos() when add_eos_by_default()). When parse_special is true, the text of control
  // tokens (e.g. "<s>") is matched as that token. Any bytes are accepted; ids are in [0, n_vocab).
  virtual std::vector<Token> encode(std::string_view text, bool add_bos, bool parse_special = false) const = 0;

  // An upper bound of the bytes encode(text) holds at its peak (its scratch and the result), so
  // that callers can lease them before tokenizing a large file.
  virtual uint64_t encode_work_bytes(std::string_view text) const = 0;

  // The bytes a token stands for: "▁" becomes " ", byte tokens <0xNN> become that byte, control
  // tokens (BOS, EOS) give their text as stored in the vocabulary (tok512.bin: "\n<s>\n"; a GGUF:
  // "<s>"); byte-level BPE tokens are mapped back to their bytes. Unused tokens and ids out of
  // range give "".
  virtual std::string piece(Token t) const = 0;

  // The bytes llama2.c's run prints for `t` after `prev`: piece(t), without its leading space when
  // prev is BOS and the vocabulary is SentencePiece-style (kSpm). (Whether to print control bytes
  // is the caller's choice: llama2.c prints EOS's text, "\n</s>\n" for tok512.bin.)
  std::string decode_piece(Token prev, Token t) const;

  // Concatenation of decode_piece over `tokens`: control and unknown tokens give nothing, the
  // leading space after BOS is stripped.
  std::string decode(std::span<const Token> tokens) const;

  virtual std::string_view token_text(Token t) const = 0;  // as stored in the vocabulary ("" out of range)
  virtual float token_score(Token t) const = 0;
  virtual bool is_control(Token t) const = 0;
  virtual bool is_byte(Token t) const = 0;
  virtual bool is_unknown(Token t) const = 0;  // the <unk> token (decode() skips it)

  virtual Token bos() const = 0;  // -1 when absent
  virtual Token eos() const = 0;  // -1 when absent
  virtual Token unk() const = 0;  // -1 when absent
  virtual Token pad() const = 0;  // -1 when absent (GGUF tokenizer.ggml.padding_token_id)
  virtual bool add_bos_by_default() const = 0;
  virtual bool add_eos_by_default() const = 0;
};

}  // namespace mnemo
