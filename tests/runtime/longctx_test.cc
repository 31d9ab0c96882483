// The long-context data generator (mnemo/longctx.h) and the passkey prompts (mnemo/passkey.h):
// determinism, exact lengths, items where the index says they are. The vocabulary is tok512's,
// read from the committed models/mnemo-stories.gguf, so no data beyond the repository is needed.
#include <algorithm>
#include <fstream>
#include <set>

#include "mnemo/longctx.h"
#include "mnemo/passkey.h"
#include "test_util.h"

namespace mnemo {
namespace {

std::string vocab_path() { return std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf"; }

std::unique_ptr<Tokenizer> load_tok() {
  auto t = Tokenizer::load(vocab_path());
  EXPECT_TRUE(t.has_value()) << t.status().message();
  return t.has_value() ? std::move(*t) : nullptr;
}

// Small sources: stories of a few lines and a play with speeches.
LongCtxSources small_sources() {
  LongCtxSources s;
  const char* names[] = {"Lily", "Tom", "Ben", "Sue", "Max", "Mia"};
  for (int i = 0; i < 30; ++i) {
    std::vector<std::string> story;
    for (int l = 0; l < 1 + i % 4; ++l) {
      story.push_back(std::string("Once upon a time, ") + names[(i + l) % 6] + " went to the park number " +
                      std::to_string(i) + " and saw a big red ball. It was a happy day for everyone there.");
    }
    s.stories.push_back(story);
  }
  for (int i = 0; i < 60; ++i) {
    s.play_lines.push_back(i % 5 == 0 ? "First Citizen:" : "Speak, speak, good friends, and hear me now " + std::to_string(i));
  }
  return s;
}

std::vector<LongCtxDoc> generate(const Tokenizer& tok, const LongCtxParams& p, int n, LongCtxSources src = small_sources()) {
  auto gen = LongCtxGenerator::create(tok, std::move(src), p);
  EXPECT_TRUE(gen.has_value()) << gen.status().message();
  std::vector<LongCtxDoc> docs;
  for (int i = 0; i < n && gen.has_value(); ++i) {
    auto d = (*gen)->next();
    EXPECT_TRUE(d.has_value()) << d.status().message();
    if (d.has_value()) docs.push_back(std::move(*d));
  }
  return docs;
}

LongCtxParams params(int64_t doc_tokens, uint64_t seed) {
  LongCtxParams p;
  p.doc_tokens = doc_tokens;
  p.seed = seed;
  return p;
}

TEST(LongCtxGen, SameSeedSameDocumentsOtherSeedOthers) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  const auto a = generate(*tok, params(1023, 5), 6);
  const auto b = generate(*tok, params(1023, 5), 6);
  const auto c = generate(*tok, params(1023, 6), 6);
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(c.size(), 6u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].text(), b[i].text()) << "document " << i;
    EXPECT_NE(a[i].text(), c[i].text()) << "document " << i;
  }
}

TEST(LongCtxGen, ExactTokensAndItemsWhereTheIndexSays) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  auto enc = LineEncoder::create(*tok);
  ASSERT_TRUE(enc.has_value()) << enc.status().message();
  LongCtxParams p = params(2047, 11);
  p.builtin_filler = 0.2;
  const auto docs = generate(*tok, p, 25);
  ASSERT_EQ(docs.size(), 25u);
  for (size_t d = 0; d < docs.size(); ++d) {
    SCOPED_TRACE("document " + std::to_string(d));
    const LongCtxDoc& doc = docs[d];
    const std::vector<Token> toks = tok->encode(doc.text(), false);
    ASSERT_EQ(static_cast<int64_t>(toks.size()), 2047);
    ASSERT_EQ(doc.n_tokens, 2047);
    EXPECT_EQ(doc.text().find("\n\n"), std::string::npos);  // one document for the "blank" split
    std::string needle_key;
    int64_t needle_line = -1, list_line = -1;
    for (const LongCtxItem& it : doc.items) {
      const std::string& line = doc.lines[static_cast<size_t>(it.line)];
      // The line's tokens are in the document at the stated offset.
      const std::vector<Token> lt = enc->encode(line, it.line == 0);
      ASSERT_LE(it.token_offset + static_cast<int64_t>(lt.size()), 2047);
      EXPECT_TRUE(std::equal(lt.begin(), lt.end(), toks.begin() + it.token_offset)) << line;
      switch (it.kind) {
        case LongCtxItemKind::kPasskeyNeedle:
          EXPECT_EQ(line, passkey_needle(it.key));
          EXPECT_EQ(it.key.size(), 5u);
          needle_key = it.key;
          needle_line = it.line;
          break;
        case LongCtxItemKind::kPasskeyQuery:
          EXPECT_EQ(line, passkey_query(it.key));
          EXPECT_EQ(it.key, needle_key);  // the needle comes first, and it is the same key
          EXPECT_GT(it.line, needle_line);
          break;
        case LongCtxItemKind::kKvList:
          EXPECT_EQ(line, kv_list_header());
          list_line = it.line;
          break;
        case LongCtxItemKind::kKvQuery: {
          EXPECT_EQ(line, kv_query_line(it.key, it.value));
          ASSERT_GE(list_line, 0);
          // Its pair is in a list before it, with filler between.
          const auto pair = std::find(doc.lines.begin(), doc.lines.begin() + it.line, kv_pair_line(it.key, it.value));
          ASSERT_NE(pair, doc.lines.begin() + it.line) << "pair of " << it.key << " not in a list before";
          EXPECT_LT(pair - doc.lines.begin() + 1, it.line);
          break;
        }
      }
    }
    // The last line asks for the passkey, and the document ends with its answer.
    ASSERT_FALSE(doc.items.empty());
    const LongCtxItem& last = doc.items.back();
    EXPECT_EQ(last.kind, LongCtxItemKind::kPasskeyQuery);
    EXPECT_EQ(last.line + 1, static_cast<int64_t>(doc.lines.size()));
    EXPECT_EQ(last.token_offset + static_cast<int64_t>(enc->encode(doc.lines.back(), false).size()), 2047);
    if (doc.builtin_filler) {
      for (const std::string& l : doc.lines) {
        const bool item = l.rfind("The pass key", 0) == 0 || l.rfind("What is", 0) == 0 || l == kv_list_header() ||
                          (l.size() <= 9 && l.find(": ") == 3);
        if (!item) {
          EXPECT_EQ(std::string(builtin_filler_line()).rfind(l, 0), 0u) << l;
        }
      }
    }
  }
}

TEST(LongCtxGen, NeedlesAtEveryDepth) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  const auto docs = generate(*tok, params(2047, 3), 80);
  int early = 0, late = 0;
  for (const LongCtxDoc& d : docs) {
    for (const LongCtxItem& it : d.items) {
      if (it.kind != LongCtxItemKind::kPasskeyNeedle) continue;
      early += it.token_offset < 2047 / 5 ? 1 : 0;
      late += it.token_offset > 2047 * 7 / 10 ? 1 : 0;  // questions after it take up to ~300 tokens
    }
  }
  EXPECT_GT(early, 8);
  EXPECT_GT(late, 8);
}

TEST(LongCtxGen, BuiltinFillerAlone) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  LongCtxParams p = params(600, 1);
  p.builtin_filler = 1;
  const auto docs = generate(*tok, p, 3, LongCtxSources{});
  ASSERT_EQ(docs.size(), 3u);
  for (const auto& d : docs) EXPECT_TRUE(d.builtin_filler);
}

TEST(LongCtxGen, BadParametersAreErrors) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  LongCtxParams p = params(100, 1);
  EXPECT_FALSE(LongCtxGenerator::create(*tok, small_sources(), p).has_value());
  p = params(1023, 1);
  p.kv_pairs_min = 5;
  p.kv_pairs_max = 2;
  EXPECT_FALSE(LongCtxGenerator::create(*tok, small_sources(), p).has_value());
  p = params(1023, 1);
  p.builtin_filler = 1.5;
  EXPECT_FALSE(LongCtxGenerator::create(*tok, small_sources(), p).has_value());
  p = params(1023, 1);
  auto none = LongCtxGenerator::create(*tok, LongCtxSources{}, p);  // no filler and not all built-in
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.status().message().find("filler"), std::string::npos);
  EXPECT_FALSE(load_longctx_sources({"/nonexistent/stories.txt"}, "", 0, 1).has_value());
  EXPECT_FALSE(load_longctx_sources({}, "", 0.5, 0.5).has_value());
}

// ---- passkey prompts ----

TEST(PasskeyPrompt, ExactLengthNeedleAtItsDepthQuestionLast) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  auto enc = LineEncoder::create(*tok);
  ASSERT_TRUE(enc.has_value());
  PasskeyParams p;
  const std::vector<Token> question = enc->encode(passkey_question(), false);
  for (int64_t len : {200, 777, 2048}) {
    int64_t prev_needle = -1;
    for (double depth : {0.0, 0.25, 0.5, 0.75, 1.0}) {
      SCOPED_TRACE("length " + std::to_string(len) + " depth " + std::to_string(depth));
      auto pr = build_passkey_prompt(*tok, p, len, depth, 0);
      ASSERT_TRUE(pr.has_value()) << pr.status().message();
      EXPECT_EQ(static_cast<int64_t>(pr->tokens.size() + pr->answer.size()), len);
      EXPECT_EQ(pr->tokens.front(), tok->bos());
      ASSERT_GE(pr->tokens.size(), question.size() + 1);
      EXPECT_TRUE(std::equal(question.begin(), question.end(), pr->tokens.end() - static_cast<std::ptrdiff_t>(question.size())));
      EXPECT_EQ(pr->tokens[pr->tokens.size() - question.size() - 1], enc->newline());
      // The needle's tokens are where it says, and the answer's digits are the key.
      const std::vector<Token> needle = enc->encode(passkey_needle(pr->key), pr->needle_token == 1);
      ASSERT_GE(pr->needle_token, 1);
      EXPECT_TRUE(std::equal(needle.begin(), needle.end(), pr->tokens.begin() + pr->needle_token));
      // Deeper needles sit later (at 200 tokens the filler is ~4 lines: two depths may share one).
      if (len >= 777) {
        EXPECT_GT(pr->needle_token, prev_needle);
      } else {
        EXPECT_GE(pr->needle_token, prev_needle);
      }
      prev_needle = pr->needle_token;
      if (depth == 0.0) {
        EXPECT_EQ(pr->needle_token, 1);
      }
      if (depth == 1.0) {
        EXPECT_EQ(pr->needle_token + static_cast<int64_t>(needle.size()) + 1 + static_cast<int64_t>(question.size()),
                  static_cast<int64_t>(pr->tokens.size()));
      }
      std::string answer;
      for (Token t : pr->answer) answer += tok->piece(t);
      EXPECT_EQ(answer, " " + pr->key);
    }
  }
}

TEST(PasskeyPrompt, DeterministicControlHasNoNeedleFillerFromLines) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  PasskeyParams p;
  auto a = build_passkey_prompt(*tok, p, 512, 0.5, 3);
  auto b = build_passkey_prompt(*tok, p, 512, 0.5, 3);
  auto c = build_passkey_prompt(*tok, p, 512, 0.5, 4);
  ASSERT_TRUE(a.has_value() && b.has_value() && c.has_value());
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_NE(a->key, c->key);
  p.needle = false;
  auto ctrl = build_passkey_prompt(*tok, p, 512, 0.5, 3);
  ASSERT_TRUE(ctrl.has_value());
  EXPECT_EQ(ctrl->needle_token, -1);
  EXPECT_EQ(ctrl->key, a->key);
  EXPECT_EQ(static_cast<int64_t>(ctrl->tokens.size() + ctrl->answer.size()), 512);
  EXPECT_EQ(tok->decode(ctrl->tokens).find(ctrl->key), std::string::npos);
  p.needle = true;
  p.filler = {"Tom likes red apples.", "The dog ran far away."};
  auto f = build_passkey_prompt(*tok, p, 300, 0.5, 0);
  ASSERT_TRUE(f.has_value());
  const std::string text = tok->decode(f->tokens);
  EXPECT_NE(text.find("Tom likes red apples.\nThe dog ran far away."), std::string::npos) << text;
  EXPECT_EQ(text.find("grass"), std::string::npos);
}

// Every length is hit exactly, whatever the filler lines' lengths (a line exactly as long as the
// excess once made prompts one token short).
TEST(PasskeyPrompt, ExactLengthWithAnyFillerLines) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  PasskeyParams p;
  for (int i = 1; i <= 40; ++i) {
    std::string line;
    for (int w = 0; w < i % 13 + 1; ++w) line += w == 0 ? "Lily" : (w % 3 == 0 ? " ran to the park" : " saw a dog");
    p.filler.push_back(line + ".");
  }
  for (int64_t len = 90; len <= 1200; len += 37) {
    for (double depth : {0.0, 0.5, 1.0}) {
      for (int64_t index = 0; index < 6; ++index) {
        auto pr = build_passkey_prompt(*tok, p, len, depth, index);
        ASSERT_TRUE(pr.has_value()) << "length " << len << " depth " << depth << " trial " << index << ": "
                                    << pr.status().message();
        EXPECT_EQ(static_cast<int64_t>(pr->tokens.size() + pr->answer.size()), len);
      }
    }
  }
}

TEST(PasskeyPrompt, ValidateNamesTheOption) {
  auto tok = load_tok();
  ASSERT_NE(tok, nullptr);
  auto expect = [&](PasskeyParams p, int64_t n_ctx, const std::string& needle) {
    const Status s = validate(p, *tok, n_ctx);
    EXPECT_FALSE(s.is_ok()) << needle;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  };
  PasskeyParams p;
  EXPECT_TRUE(validate(p, *tok, 2048).is_ok());
  expect(p, 1024, "--lengths 2048: expected at most the context of 1024");
  PasskeyParams q = p;
  q.lengths = {20};
  expect(q, 2048, "--lengths 20: expected at least");
  q = p;
  q.lengths = {};
  expect(q, 2048, "--lengths");
  q = p;
  q.depths = {0.5, 1.5};
  expect(q, 2048, "--depths 1.5");
  q = p;
  q.depths = {-0.1};
  expect(q, 2048, "--depths -0.1");
  q = p;
  q.trials = 0;
  expect(q, 2048, "--trials 0");
  q = p;
  q.digits = 0;
  expect(q, 2048, "--digits 0");
  q = p;
  q.filler = {"a", ""};
  expect(q, 2048, "filler");
}

}  // namespace
}  // namespace mnemo
