// Passkey retrieval (mnemo/passkey.h).
#include "mnemo/passkey.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "mnemo/util.h"

namespace mnemo {

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  SplitMix64 r(h ^ (v * 0x9e3779b97f4a7c15ull));
  return r.next();
}

int count_digits(std::string_view s) {
  return static_cast<int>(std::count_if(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }));
}

// The first run of digits in s ("" if none), and whether something other than a digit follows it.
std::string first_digit_run(std::string_view s, bool* ended) {
  const size_t b = s.find_first_of("0123456789");
  *ended = false;
  if (b == std::string_view::npos) return {};
  size_t e = b;
  while (e < s.size() && s[e] >= '0' && s[e] <= '9') ++e;
  *ended = e < s.size();
  return std::string(s.substr(b, e - b));
}

Token argmax(std::span<const float> logits) {
  return static_cast<Token>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

double nll_of(std::span<const float> logits, Token t) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - mx));
  return std::log(sum) + static_cast<double>(mx) - static_cast<double>(logits[static_cast<size_t>(t)]);
}

// Tokens of BOS, the needle line, the question line (each after a "\n") and the key's tokens.
int64_t fixed_tokens(const LineEncoder& enc, int digits, bool needle) {
  const std::string key(static_cast<size_t>(digits), '5');
  int64_t n = 1 + 1 + static_cast<int64_t>(enc.encode(passkey_query(key), false).size());  // with the answer
  if (needle) n += static_cast<int64_t>(enc.encode(passkey_needle(key), false).size()) + 1;
  return n;
}

constexpr int64_t kMinFiller = 8;

}  // namespace

Status validate(const PasskeyParams& p, const Tokenizer& tok, int64_t n_ctx) {
  if (p.lengths.empty()) return invalid_argument("--lengths: expected at least one prompt length, found none");
  if (p.depths.empty()) return invalid_argument("--depths: expected at least one depth, found none");
  for (double d : p.depths) {
    if (!(d >= 0 && d <= 1)) return invalid_argument(str_printf("--depths %g: expected a fraction in [0, 1]", d));
  }
  if (p.trials < 1) {
    return invalid_argument(str_printf("--trials %lld: expected at least 1", static_cast<long long>(p.trials)));
  }
  if (p.digits < 1 || p.digits > 18) return invalid_argument(str_printf("--digits %d: expected 1..18", p.digits));
  for (const std::string& l : p.filler) {
    if (l.empty()) return invalid_argument("filler: expected non-empty lines, found an empty one");
  }
  MNEMO_ASSIGN_OR_RETURN(const LineEncoder enc, LineEncoder::create(tok));
  const int64_t min_len = fixed_tokens(enc, p.digits, true) + kMinFiller;
  for (int64_t len : p.lengths) {
    if (len < min_len) {
      return invalid_argument(str_printf("--lengths %lld: expected at least %lld tokens (BOS, the needle, the question, "
                                         "the key and %lld of filler)",
                                         static_cast<long long>(len), static_cast<long long>(min_len),
                                         static_cast<long long>(kMinFiller)));
    }
    if (len > n_ctx) {
      return invalid_argument(str_printf("--lengths %lld: expected at most the context of %lld positions (-c)",
                                         static_cast<long long>(len), static_cast<long long>(n_ctx)));
    }
  }
  return Status::ok();
}

Expected<PasskeyPrompt> build_passkey_prompt(const Tokenizer& tok, const PasskeyParams& p, int64_t length, double depth,
                                             int64_t index) {
  MNEMO_ASSIGN_OR_RETURN(const LineEncoder enc, LineEncoder::create(tok));
  // Key and filler depend on (seed, length, index), not on the depth: the cells of one length
  // differ only in where the needle is.
  SplitMix64 rng(mix(mix(p.seed, static_cast<uint64_t>(length)), static_cast<uint64_t>(index)));
  PasskeyPrompt pr;
  pr.key = random_digits(rng, p.digits);
  const std::vector<std::string> builtin{std::string(builtin_filler_line())};
  const std::vector<std::string>& source = p.filler.empty() ? builtin : p.filler;
  size_t next = rng.below(source.size());

  const std::vector<Token> question = enc.encode(passkey_question(), false);
  const std::vector<Token> full = enc.encode(passkey_query(pr.key), false);
  if (full.size() <= question.size() || !std::equal(question.begin(), question.end(), full.begin())) {
    return internal_error("passkey: the question's tokens are not a prefix of the answered question's");
  }
  std::string got;
  for (size_t i = question.size(); i < full.size() && count_digits(got) < p.digits; ++i) {
    pr.answer.push_back(full[i]);
    got += tok.piece(full[i]);
  }

  // Filler lines to cover the budget, the needle at the boundary nearest its depth. The prompt
  // leaves room for the key: prompt and answer together are `length` tokens.
  const int64_t prompt_len = length - static_cast<int64_t>(pr.answer.size());
  const int64_t budget = prompt_len - (fixed_tokens(enc, p.digits, p.needle) - static_cast<int64_t>(pr.answer.size()));
  if (budget < kMinFiller) return invalid_argument(str_printf("--lengths %lld: too short", static_cast<long long>(length)));
  std::vector<std::string> filler;
  std::vector<int64_t> cum{0};
  while (cum.back() < budget) {
    filler.push_back(source[next++ % source.size()]);
    cum.push_back(cum.back() + static_cast<int64_t>(enc.encode(filler.back(), false).size()) + 1);
  }
  const auto F = static_cast<int64_t>(filler.size());
  auto at = [&](int64_t k) { return k == F ? static_cast<double>(budget) : static_cast<double>(cum[static_cast<size_t>(k)]); };
  int64_t slot = 0;
  for (int64_t k = 1; k <= F; ++k) {
    if (std::abs(at(k) - depth * static_cast<double>(budget)) < std::abs(at(slot) - depth * static_cast<double>(budget))) {
      slot = k;
    }
  }
  struct Line {
    std::vector<Token> tokens;
    bool needle = false;
  };
  std::vector<Line> lines;
  std::vector<std::string> texts;
  for (int64_t k = 0; k <= F; ++k) {
    if (p.needle && k == slot) {
      texts.push_back(passkey_needle(pr.key));
      lines.push_back({{}, true});
    }
    if (k < F) {
      texts.push_back(filler[static_cast<size_t>(k)]);
      lines.push_back({{}, false});
    }
  }
  for (size_t i = 0; i < lines.size(); ++i) lines[i].tokens = enc.encode(texts[i], i == 0);
  auto total = [&]() {
    int64_t n = 1 + 1 + static_cast<int64_t>(question.size());
    for (size_t i = 0; i < lines.size(); ++i) n += static_cast<int64_t>(lines[i].tokens.size()) + (i > 0 ? 1 : 0);
    return n;
  };
  auto last_filler = [&]() -> int64_t {
    for (int64_t i = static_cast<int64_t>(lines.size()) - 1; i >= 0; --i) {
      if (!lines[static_cast<size_t>(i)].needle) return i;
    }
    return -1;
  };
  // The first line's dummy prefix can make the whole shorter than planned: add filler after the last.
  while (total() < prompt_len) {
    const int64_t at_line = last_filler() + 1;
    const std::string& l = source[next++ % source.size()];
    lines.insert(lines.begin() + at_line, Line{enc.encode(l, at_line == 0), false});
  }
  // Cut the excess from the end of the last filler line: whole lines while they are no longer than
  // what is left to cut (a line and its newline), else its tail. A line that cannot go whole (the
  // first, or one exactly as long as the excess, whose newline would be one too many) keeps its
  // first token and the rest is cut from the lines before it.
  std::vector<bool> locked(lines.size(), false);
  int64_t excess = total() - prompt_len;
  while (excess > 0) {
    int64_t c = -1;
    for (int64_t i = static_cast<int64_t>(lines.size()) - 1; i >= 0 && c < 0; --i) {
      if (!lines[static_cast<size_t>(i)].needle && !locked[static_cast<size_t>(i)]) c = i;
    }
    if (c < 0) return internal_error("passkey: no filler left to cut");
    std::vector<Token>& t = lines[static_cast<size_t>(c)].tokens;
    const auto n = static_cast<int64_t>(t.size());
    if (n > excess) {
      t.erase(t.end() - static_cast<std::ptrdiff_t>(excess), t.end());
      excess = 0;
    } else if (c > 0 && n + 1 <= excess) {
      lines.erase(lines.begin() + c);
      locked.erase(locked.begin() + c);
      excess -= n + 1;
    } else {
      t.resize(1);
      locked[static_cast<size_t>(c)] = true;
      excess -= n - 1;
    }
  }
  pr.tokens.reserve(static_cast<size_t>(prompt_len));
  pr.tokens.push_back(tok.bos());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) pr.tokens.push_back(enc.newline());
    if (lines[i].needle) pr.needle_token = static_cast<int64_t>(pr.tokens.size());
    pr.tokens.insert(pr.tokens.end(), lines[i].tokens.begin(), lines[i].tokens.end());
  }
  pr.tokens.push_back(enc.newline());
  pr.tokens.insert(pr.tokens.end(), question.begin(), question.end());
  if (static_cast<int64_t>(pr.tokens.size()) != prompt_len) {
    return internal_error(str_printf("passkey: built %zu tokens for a prompt of %lld", pr.tokens.size(),
                                     static_cast<long long>(prompt_len)));
  }
  return pr;
}

namespace {

// Scores the key's tokens (teacher forced), then decodes greedily until the first digit run ends.
Status run_trial(Context& ctx, const Tokenizer& tok, const PasskeyPrompt& pr, PasskeyTrial* out) {
  const auto L = static_cast<int64_t>(pr.tokens.size());
  MNEMO_RETURN_IF_ERROR(ctx.eval(pr.tokens, 0));
  const size_t A = pr.answer.size();
  std::vector<Token> best(A);
  double nll = 0;
  int scored = 0;
  for (size_t i = 0; i < A; ++i) {
    // Positions are cache positions: n_past, which a KV budget policy keeps below its budget.
    if (i > 0) MNEMO_RETURN_IF_ERROR(ctx.eval(std::span<const Token>(&pr.answer[i - 1], 1), ctx.n_past()));
    const std::span<const float> logits = ctx.logits();
    best[i] = argmax(logits);
    if (count_digits(tok.piece(pr.answer[i])) > 0) {
      nll += nll_of(logits, pr.answer[i]);
      ++scored;
    }
  }
  out->nll = scored > 0 ? nll / scored : 0;
  // Greedy: the answer's tokens as long as they are the argmax, then the model's own.
  std::vector<Token> gen;
  size_t m = 0;
  while (m < A && best[m] == pr.answer[m]) gen.push_back(pr.answer[m++]);
  if (m < A) gen.push_back(best[m]);
  std::string text;
  for (Token t : gen) text += tok.piece(t);
  bool ended = false;
  std::string run = first_digit_run(text, &ended);
  const size_t max_tokens = A + 4;
  while (!ended && gen.size() < max_tokens && gen.back() != tok.eos() && gen.back() != tok.bos() &&
         L + static_cast<int64_t>(gen.size()) - 1 < ctx.n_ctx()) {
    MNEMO_RETURN_IF_ERROR(ctx.eval(std::span<const Token>(&gen.back(), 1), ctx.n_past()));
    gen.push_back(argmax(ctx.logits()));
    text += tok.piece(gen.back());
    run = first_digit_run(text, &ended);
  }
  out->answer = run;
  out->correct = run == pr.key;
  out->key = pr.key;
  out->needle_token = pr.needle_token;
  return Status::ok();
}

}  // namespace

Expected<PasskeyResult> evaluate_passkey(Context& ctx, const Tokenizer& tok, const PasskeyParams& p,
                                         const PasskeyProgress& progress) {
  MNEMO_RETURN_IF_ERROR(validate(p, tok, ctx.n_ctx()));
  PasskeyResult r;
  const int64_t total = static_cast<int64_t>(p.lengths.size() * p.depths.size()) * p.trials;
  for (int64_t len : p.lengths) {
    for (double depth : p.depths) {
      PasskeyCell cell;
      cell.length = len;
      cell.depth = depth;
      for (int64_t t = 0; t < p.trials; ++t) {
        MNEMO_ASSIGN_OR_RETURN(const PasskeyPrompt pr, build_passkey_prompt(tok, p, len, depth, t));
        PasskeyTrial trial;
        trial.length = len;
        trial.depth = depth;
        trial.index = t;
        MNEMO_RETURN_IF_ERROR(run_trial(ctx, tok, pr, &trial));
        ++cell.trials;
        cell.correct += trial.correct ? 1 : 0;
        cell.nll += trial.nll;
        r.trials.push_back(trial);
        if (progress) progress(static_cast<int64_t>(r.trials.size()), total, trial);
      }
      r.n += cell.trials;
      r.correct += cell.correct;
      r.nll += cell.nll;
      cell.nll /= static_cast<double>(cell.trials);
      r.cells.push_back(cell);
    }
  }
  r.nll = r.n > 0 ? r.nll / static_cast<double>(r.n) : 0;
  return r;
}

Expected<std::vector<std::string>> read_filler_lines(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(const std::string text, read_text_file(path));
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view l(text.data() + pos, eol - pos);
    while (!l.empty() && (l.front() == ' ' || l.front() == '\t' || l.front() == '\r')) l.remove_prefix(1);
    while (!l.empty() && (l.back() == ' ' || l.back() == '\t' || l.back() == '\r')) l.remove_suffix(1);
    if (!l.empty()) lines.emplace_back(l);
    pos = eol + 1;
  }
  if (lines.empty()) return out_of_range(path + ": expected filler text (non-empty lines), found none");
  return lines;
}

}  // namespace mnemo
