// Token files and the loader: packing with BOS between documents, shuffling, a deterministic order
// per seed, positions that resume exactly, and ids beyond the vocabulary rejected.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "mnemo/tokenizer.h"
#include "train/data.h"
#include "train/rng.h"
#include "train_test_util.h"

namespace mnemo::train {
namespace {

constexpr int32_t kBos = 1;

// Documents of distinct, recognizable tokens: document d holds ids 3 + (d * 7 + i) % 60.
TokenData make_docs(int n_docs, uint64_t seed) {
  TokenData d;
  d.n_vocab = 64;
  d.bos = kBos;
  Rng rng(seed);
  for (int k = 0; k < n_docs; ++k) {
    const int len = 1 + static_cast<int>(rng.below(12));
    for (int i = 0; i < len; ++i) d.tokens.push_back(3 + (k * 7 + i) % 60);
    d.doc_start.push_back(d.n_tokens());
  }
  return d;
}

// Splits a stream at BOS into documents (as token vectors).
std::vector<std::vector<int32_t>> split_at_bos(const std::vector<int32_t>& s) {
  std::vector<std::vector<int32_t>> out;
  for (int32_t t : s) {
    if (t == kBos) {
      out.emplace_back();
    } else if (!out.empty()) {
      out.back().push_back(t);
    }
  }
  return out;
}

std::vector<int32_t> stream(DataLoader& l, int batches, int64_t B, int64_t T) {
  std::vector<int32_t> s, buf(static_cast<size_t>(B * T + 1));
  for (int i = 0; i < batches; ++i) {
    l.next(buf.data());
    // Consecutive batches overlap by one token: keep the first batch whole, then all but the first.
    s.insert(s.end(), buf.begin() + (i == 0 ? 0 : 1), buf.end());
  }
  return s;
}

TEST(TrainData, PacksDocumentsWithBosAndCoversEachOncePerEpoch) {
  const TokenData d = make_docs(25, 1);
  DataLoader l(&d, 2, 8, /*shuffle=*/true, 42);
  const auto s = stream(l, 40, 2, 8);
  ASSERT_EQ(s.front(), kBos);
  auto docs = split_at_bos(s);
  docs.pop_back();  // possibly cut
  ASSERT_GE(docs.size(), 50u);
  // Every document appears whole; the first 25 are a permutation of all of them, so are the next 25.
  std::map<std::vector<int32_t>, int> all;
  for (int k = 0; k < d.n_docs(); ++k) {
    all[std::vector<int32_t>(d.tokens.begin() + d.doc_start[k], d.tokens.begin() + d.doc_start[k + 1])] = k;
  }
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::set<int> seen;
    for (int i = 0; i < 25; ++i) {
      auto it = all.find(docs[static_cast<size_t>(epoch * 25 + i)]);
      ASSERT_NE(it, all.end()) << "a packed document is not one of the inputs";
      seen.insert(it->second);
    }
    EXPECT_EQ(seen.size(), 25u) << "epoch " << epoch << " is not a permutation";
  }
  // Shuffled: the first epoch is not the file order, and the two epochs differ.
  std::vector<int> order0, order1;
  for (int i = 0; i < 25; ++i) order0.push_back(all[docs[static_cast<size_t>(i)]]);
  for (int i = 0; i < 25; ++i) order1.push_back(all[docs[static_cast<size_t>(25 + i)]]);
  std::vector<int> identity(25);
  for (int i = 0; i < 25; ++i) identity[static_cast<size_t>(i)] = i;
  EXPECT_NE(order0, identity);
  EXPECT_NE(order0, order1);
}

TEST(TrainData, WithoutShuffleTheOrderIsTheFiles) {
  const TokenData d = make_docs(5, 2);
  DataLoader l(&d, 1, 4, /*shuffle=*/false, 0);
  const auto s = stream(l, 20, 1, 4);
  auto docs = split_at_bos(s);
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(docs[static_cast<size_t>(k)],
              std::vector<int32_t>(d.tokens.begin() + d.doc_start[k], d.tokens.begin() + d.doc_start[k + 1]));
  }
}

TEST(TrainData, OrderDependsOnlyOnTheSeed) {
  const TokenData d = make_docs(30, 3);
  DataLoader a(&d, 3, 5, true, 7), b(&d, 3, 5, true, 7), c(&d, 3, 5, true, 8);
  const auto sa = stream(a, 30, 3, 5), sb = stream(b, 30, 3, 5), sc = stream(c, 30, 3, 5);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(TrainData, RowsAreInputsAndNextTokenTargets) {
  const TokenData d = make_docs(10, 4);
  DataLoader l(&d, 2, 6, false, 0);
  std::vector<int32_t> b1(13), b2(13);
  l.next(b1.data());
  l.next(b2.data());
  EXPECT_EQ(b1[12], b2[0]) << "the last token of a batch starts the next";
}

TEST(TrainData, StateResumesTheSameStream) {
  const TokenData d = make_docs(17, 5);
  DataLoader a(&d, 2, 7, true, 11);
  std::vector<int32_t> buf(15);
  for (int i = 0; i < 23; ++i) a.next(buf.data());
  const DataLoader::State st = a.state();
  DataLoader b(&d, 2, 7, true, 11);
  ASSERT_TRUE(b.set_state(st).is_ok());
  EXPECT_EQ(stream(a, 30, 2, 7), stream(b, 30, 2, 7));
  DataLoader::State bad = st;
  bad.cursor = 1000;
  EXPECT_FALSE(b.set_state(bad).is_ok());
}

TEST(TrainData, TokenFileRoundTripAndRejections) {
  const std::string dir = mnemo::test::temp_dir();
  TokenData d = make_docs(9, 6);
  const std::string path = dir + "/d.bin";
  ASSERT_TRUE(write_token_file(path, d).is_ok());
  EXPECT_TRUE(is_token_file(path));
  auto r = read_token_file(path, 64);
  ASSERT_TRUE(r.has_value()) << r.status().message();
  EXPECT_EQ(r->tokens, d.tokens);
  EXPECT_EQ(r->doc_start, d.doc_start);
  EXPECT_EQ(r->bos, kBos);
  // A smaller model vocabulary than the file's: rejected before any token is used.
  auto small = read_token_file(path, 32);
  ASSERT_FALSE(small.has_value());
  EXPECT_NE(small.status().message().find("the model's vocabulary"), std::string::npos) << small.status().message();
  // An id beyond the vocabulary in the tokens themselves.
  d.tokens[5] = 999;
  d.n_vocab = 64;
  ASSERT_TRUE(write_token_file(path, d).is_ok());
  auto bad = read_token_file(path, 64);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.status().message().find("token 5: expected an id below 64"), std::string::npos)
      << bad.status().message();
  // Truncated.
  {
    auto bytes = test::read_raw<uint8_t>(path);
    bytes.resize(bytes.size() - 3);
    test::write_raw(path, bytes);
  }
  auto cut = read_token_file(path, 64);
  ASSERT_FALSE(cut.has_value());
  EXPECT_NE(cut.status().message().find("expected"), std::string::npos);
  // Not a token file.
  test::write_raw(dir + "/x.bin", std::vector<uint8_t>(100, 7));
  EXPECT_FALSE(read_token_file(dir + "/x.bin", 64).has_value());
}

TEST(TrainData, TokenizesTinyStoriesIntoDocuments) {
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  auto tok = Tokenizer::load(mnemo::test::data_path("models/tok512.bin"));
  ASSERT_TRUE(tok.has_value());
  const std::string dir = mnemo::test::temp_dir();
  {
    std::ofstream f(dir + "/t.txt");
    f << "Once upon a time there was a cat.\nIt was happy.\n\n\nThe end came.\n  \nLast one";
  }
  auto d = tokenize_text({dir + "/t.txt"}, **tok, "blank");
  ASSERT_TRUE(d.has_value()) << d.status().message();
  ASSERT_EQ(d->n_docs(), 3);
  auto doc = [&](int k) {
    return std::vector<Token>(d->tokens.begin() + d->doc_start[k], d->tokens.begin() + d->doc_start[k + 1]);
  };
  EXPECT_EQ(doc(0), (*tok)->encode("Once upon a time there was a cat.\nIt was happy.", false));
  EXPECT_EQ(doc(1), (*tok)->encode("The end came.", false));
  EXPECT_EQ(doc(2), (*tok)->encode("Last one", false));
  auto lines = tokenize_text({dir + "/t.txt"}, **tok, "line");
  ASSERT_TRUE(lines.has_value());
  EXPECT_EQ(lines->n_docs(), 4);
  EXPECT_EQ(d->bos, 1);
}

}  // namespace
}  // namespace mnemo::train
