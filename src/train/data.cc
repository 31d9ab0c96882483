#include "train/data.h"

#include <cstring>

#include "base/check.h"
#include "base/file.h"
#include "base/strings.h"
#include "train/rng.h"

namespace mnemo::train {

void TokenData::append(const TokenData& o) {
  const int64_t base = n_tokens();
  tokens.insert(tokens.end(), o.tokens.begin(), o.tokens.end());
  for (size_t i = 1; i < o.doc_start.size(); ++i) doc_start.push_back(base + o.doc_start[i]);
  n_vocab = std::max(n_vocab, o.n_vocab);
  if (bos < 0) bos = o.bos;
}

Status check_split(const std::string& split, const std::string& subject) {
  if (split == "blank" || split == "line" || split == "none") return Status::ok();
  return invalid_argument(subject + ": expected \"blank\", \"line\" or \"none\", found \"" + split + "\"");
}

namespace {

std::string_view strip(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool blank_line(std::string_view line) { return strip(line).empty(); }

void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

Expected<TokenFileInfo> parse_header(std::span<const uint8_t> b, const std::string& path) {
  if (b.size() < kTokenHeaderBytes || std::memcmp(b.data(), kTokenMagic, 8) != 0) {
    return corrupt(path + ": expected a mnemo token file (magic \"MNEMOTOK\"; `mnemo tokenize` writes them)");
  }
  const uint32_t version = get_u32(b.data() + 8);
  if (version != 1) return unsupported(str_printf("%s: version: expected 1, found %u", path.c_str(), version));
  TokenFileInfo h;
  h.token_bytes = get_u32(b.data() + 12);
  h.n_vocab = static_cast<int32_t>(get_u32(b.data() + 16));
  h.bos = static_cast<int32_t>(get_u32(b.data() + 20));
  h.n_tokens = get_u64(b.data() + 24);
  h.n_docs = get_u64(b.data() + 32);
  if (h.token_bytes != 2 && h.token_bytes != 4) {
    return corrupt(str_printf("%s: token_bytes: expected 2 or 4, found %u", path.c_str(), h.token_bytes));
  }
  if (h.n_vocab <= 0 || (h.token_bytes == 2 && h.n_vocab > 65536)) {
    return corrupt(str_printf("%s: n_vocab: expected 1..%u, found %d", path.c_str(), h.token_bytes == 2 ? 65536u : 1u << 31,
                              h.n_vocab));
  }
  if (h.bos < -1 || h.bos >= h.n_vocab) {
    return corrupt(str_printf("%s: bos: expected -1 or an id below %d, found %d", path.c_str(), h.n_vocab, h.bos));
  }
  // Sizes: guard every product against overflow before comparing with the file size.
  const uint64_t size = b.size();
  if (h.n_docs > size / 8 || h.n_tokens > size / h.token_bytes) {
    return corrupt(str_printf("%s: expected %llu tokens and %llu documents, but the file has %llu bytes", path.c_str(),
                              static_cast<unsigned long long>(h.n_tokens), static_cast<unsigned long long>(h.n_docs),
                              static_cast<unsigned long long>(size)));
  }
  const uint64_t want = kTokenHeaderBytes + (h.n_docs + 1) * 8 + h.n_tokens * h.token_bytes;
  if (want != size) {
    return corrupt(str_printf("%s: expected %llu bytes for %llu tokens and %llu documents, found %llu", path.c_str(),
                              static_cast<unsigned long long>(want), static_cast<unsigned long long>(h.n_tokens),
                              static_cast<unsigned long long>(h.n_docs), static_cast<unsigned long long>(size)));
  }
  return h;
}

}  // namespace

Expected<TokenData> tokenize_text(const std::vector<std::string>& paths, const Tokenizer& tok,
                                  const std::string& split) {
  MNEMO_RETURN_IF_ERROR(check_split(split, "--split"));
  TokenData out;
  out.n_vocab = tok.n_vocab();
  out.bos = tok.bos();
  auto add_doc = [&](std::string_view text) {
    text = strip(text);
    if (text.empty()) return;
    const std::vector<Token> ids = tok.encode(text, /*add_bos=*/false);
    if (ids.empty()) return;
    out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
    out.doc_start.push_back(out.n_tokens());
  };
  for (const std::string& path : paths) {
    MNEMO_ASSIGN_OR_RETURN(const std::string content, read_text_file(path));
    const std::string_view text(content);
    if (split == "none") {
      add_doc(text);
      continue;
    }
    size_t doc_begin = 0, pos = 0;
    while (pos <= text.size()) {
      size_t eol = text.find('\n', pos);
      if (eol == std::string_view::npos) eol = text.size();
      const std::string_view line = text.substr(pos, eol - pos);
      if (split == "line") {
        add_doc(line);
      } else if (blank_line(line)) {
        add_doc(text.substr(doc_begin, pos - doc_begin));
        doc_begin = eol + 1;
      }
      pos = eol + 1;
    }
    if (split == "blank" && doc_begin < text.size()) add_doc(text.substr(doc_begin));
  }
  return out;
}

Status write_token_file(const std::string& path, const TokenData& data) {
  const uint32_t token_bytes = data.n_vocab <= 65536 ? 2 : 4;
  uint8_t header[kTokenHeaderBytes] = {};
  std::memcpy(header, kTokenMagic, 8);
  put_u32(header + 8, 1);
  put_u32(header + 12, token_bytes);
  put_u32(header + 16, static_cast<uint32_t>(data.n_vocab));
  put_u32(header + 20, static_cast<uint32_t>(data.bos));
  put_u64(header + 24, static_cast<uint64_t>(data.n_tokens()));
  put_u64(header + 32, static_cast<uint64_t>(data.n_docs()));
  MNEMO_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::create(path));
  MNEMO_RETURN_IF_ERROR(w->write(header, sizeof header));
  for (int64_t s : data.doc_start) {
    uint8_t b[8];
    put_u64(b, static_cast<uint64_t>(s));
    MNEMO_RETURN_IF_ERROR(w->write(b, 8));
  }
  std::vector<uint8_t> chunk;
  chunk.reserve(1 << 16);
  for (int32_t t : data.tokens) {
    if (token_bytes == 2) {
      const uint16_t v = static_cast<uint16_t>(t);
      chunk.insert(chunk.end(), reinterpret_cast<const uint8_t*>(&v), reinterpret_cast<const uint8_t*>(&v) + 2);
    } else {
      const uint32_t v = static_cast<uint32_t>(t);
      chunk.insert(chunk.end(), reinterpret_cast<const uint8_t*>(&v), reinterpret_cast<const uint8_t*>(&v) + 4);
    }
    if (chunk.size() >= (1 << 16)) {
      MNEMO_RETURN_IF_ERROR(w->write(chunk.data(), chunk.size()));
      chunk.clear();
    }
  }
  MNEMO_RETURN_IF_ERROR(w->write(chunk.data(), chunk.size()));
  return w->commit();
}

bool is_token_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[8] = {};
  const size_t n = std::fread(magic, 1, 8, f);
  std::fclose(f);
  return n == 8 && std::memcmp(magic, kTokenMagic, 8) == 0;
}

Expected<TokenFileInfo> read_token_header(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(FileBytes fb, FileBytes::open(path, MapMode::kMap));
  return parse_header(fb.bytes(), path);
}

Expected<TokenData> read_token_file(const std::string& path, int64_t model_vocab) {
  MNEMO_ASSIGN_OR_RETURN(FileBytes fb, FileBytes::open(path, MapMode::kRead));
  MNEMO_ASSIGN_OR_RETURN(TokenFileInfo h, parse_header(fb.bytes(), path));
  if (h.n_vocab > model_vocab) {
    return out_of_range(str_printf("%s: n_vocab: expected at most %lld (the model's vocabulary), found %d", path.c_str(),
                                   static_cast<long long>(model_vocab), h.n_vocab));
  }
  TokenData d;
  d.n_vocab = h.n_vocab;
  d.bos = h.bos;
  const uint8_t* p = fb.data() + kTokenHeaderBytes;
  d.doc_start.resize(h.n_docs + 1);
  for (uint64_t i = 0; i <= h.n_docs; ++i) {
    const uint64_t s = get_u64(p + 8 * i);
    const uint64_t prev = i == 0 ? 0 : static_cast<uint64_t>(d.doc_start[i - 1]);
    if ((i == 0 && s != 0) || s < prev || s > h.n_tokens || (i == h.n_docs && s != h.n_tokens)) {
      return corrupt(str_printf("%s: doc_start[%llu]: expected increasing offsets from 0 to %llu, found %llu",
                                path.c_str(), static_cast<unsigned long long>(i),
                                static_cast<unsigned long long>(h.n_tokens), static_cast<unsigned long long>(s)));
    }
    d.doc_start[i] = static_cast<int64_t>(s);
  }
  p += (h.n_docs + 1) * 8;
  d.tokens.resize(h.n_tokens);
  for (uint64_t i = 0; i < h.n_tokens; ++i) {
    const uint32_t v = h.token_bytes == 2 ? static_cast<uint32_t>(p[2 * i] | (p[2 * i + 1] << 8)) : get_u32(p + 4 * i);
    if (v >= static_cast<uint64_t>(model_vocab)) {
      return out_of_range(str_printf("%s: token %llu: expected an id below %lld (the model's vocabulary), found %u",
                                     path.c_str(), static_cast<unsigned long long>(i),
                                     static_cast<long long>(model_vocab), v));
    }
    d.tokens[i] = static_cast<int32_t>(v);
  }
  return d;
}

Expected<TokenData> load_training_data(const std::vector<std::string>& paths, const Tokenizer* tok,
                                       const std::string& split, int64_t model_vocab) {
  TokenData all;
  all.n_vocab = 0;
  for (const std::string& path : paths) {
    TokenData d;
    if (is_token_file(path)) {
      MNEMO_ASSIGN_OR_RETURN(d, read_token_file(path, model_vocab));
    } else {
      if (tok == nullptr) {
        return invalid_argument(path + ": a text file needs a tokenizer (the config's \"tokenizer\"), or tokenize it "
                                       "first with `mnemo tokenize`");
      }
      if (!file_exists(path)) return not_found(path + ": cannot open: no such file");
      MNEMO_ASSIGN_OR_RETURN(d, tokenize_text({path}, *tok, split));
      if (tok->n_vocab() > model_vocab) {
        return out_of_range(str_printf("%s: the tokenizer has %d tokens, more than the model's vocabulary (%lld)",
                                       path.c_str(), tok->n_vocab(), static_cast<long long>(model_vocab)));
      }
    }
    if (d.n_docs() == 0) return invalid_argument(path + ": expected at least one document, found none");
    if (tok != nullptr && d.bos >= 0 && tok->bos() != d.bos) {
      return invalid_argument(str_printf("%s: bos: expected %d (the tokenizer's), found %d", path.c_str(), tok->bos(),
                                         d.bos));
    }
    all.append(d);
  }
  return all;
}

DataLoader::DataLoader(const TokenData* data, int64_t B, int64_t T, bool shuffle, uint64_t seed)
    : data_(data), B_(B), T_(T), shuffle_(shuffle), seed_(seed) {
  MNEMO_CHECK(data_->n_docs() > 0 && B > 0 && T > 0);
  start_epoch();
}

void DataLoader::start_epoch() {
  const int64_t n = data_->n_docs();
  order_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  if (!shuffle_) return;
  uint64_t mix = seed_ ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(st_.epoch + 1));
  Rng rng(splitmix64(&mix));
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
    std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
  }
}

int32_t DataLoader::take() {
  for (;;) {
    if (st_.cursor >= data_->n_docs()) {
      ++st_.epoch;
      st_.cursor = 0;
      st_.offset = -1;
      start_epoch();
    }
    const int64_t doc = order_[static_cast<size_t>(st_.cursor)];
    if (st_.offset < 0) {
      st_.offset = 0;
      if (data_->bos >= 0) return data_->bos;
    }
    const int64_t begin = data_->doc_start[static_cast<size_t>(doc)];
    const int64_t len = data_->doc_start[static_cast<size_t>(doc) + 1] - begin;
    if (st_.offset < len) {
      const int32_t t = data_->tokens[static_cast<size_t>(begin + st_.offset)];
      if (++st_.offset == len) {
        ++st_.cursor;
        st_.offset = -1;
      }
      return t;
    }
    ++st_.cursor;  // an empty document
    st_.offset = -1;
  }
}

void DataLoader::next(int32_t* buf) {
  const int64_t n = B_ * T_ + 1;
  int64_t i = 0;
  if (st_.has_carry) buf[i++] = st_.carry;
  for (; i < n; ++i) buf[i] = take();
  st_.carry = buf[n - 1];
  st_.has_carry = true;
}

Status DataLoader::set_state(const State& s) {
  const int64_t n = data_->n_docs();
  if (s.epoch < 0 || s.cursor < 0 || s.cursor > n || s.offset < -1) {
    return corrupt(str_printf("data position: expected a document below %lld, found epoch %lld document %lld",
                              static_cast<long long>(n), static_cast<long long>(s.epoch),
                              static_cast<long long>(s.cursor)));
  }
  if (s.has_carry && (s.carry < 0 || s.carry >= data_->n_vocab)) {
    return corrupt(str_printf("data position: carried token %d outside the vocabulary", s.carry));
  }
  st_ = s;
  start_epoch();
  if (s.cursor < n) {
    const int64_t doc = order_[static_cast<size_t>(s.cursor)];
    const int64_t len = data_->doc_start[static_cast<size_t>(doc) + 1] - data_->doc_start[static_cast<size_t>(doc)];
    if (s.offset > len) {
      return corrupt(str_printf("data position: offset %lld beyond document %lld (%lld tokens)",
                                static_cast<long long>(s.offset), static_cast<long long>(doc),
                                static_cast<long long>(len)));
    }
  }
  return Status::ok();
}

}  // namespace mnemo::train
