// Tokenising and Porter stemming. The stem pairs are the worked examples of Porter (1980), "An
// algorithm for suffix stripping", Program 14(3), steps 1a-5b: an independent reference.
#include <gtest/gtest.h>

#include "ltm/text.h"

namespace mnemo::ltm {
namespace {

TEST(Text, TokenizeLowercasesAndSplits) {
  EXPECT_EQ(tokenize("Hey Mel! I'm 3 years-old, café."),
            (std::vector<std::string>{"hey", "mel", "i", "m", "3", "years", "old", "café"}));
  EXPECT_TRUE(tokenize("  ,.;  ").empty());
}

TEST(Text, PorterPaperExamples) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"caresses", "caress"}, {"ponies", "poni"}, {"ties", "ti"}, {"caress", "caress"}, {"cats", "cat"},
      {"feed", "feed"}, {"agreed", "agre"}, {"plastered", "plaster"}, {"bled", "bled"}, {"motoring", "motor"},
      {"sing", "sing"}, {"conflated", "conflat"}, {"troubled", "troubl"}, {"sized", "size"}, {"hopping", "hop"},
      {"tanned", "tan"}, {"falling", "fall"}, {"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"},
      {"filing", "file"}, {"happy", "happi"}, {"sky", "sky"}, {"relational", "relat"}, {"conditional", "condit"},
      {"rational", "ration"}, {"valenci", "valenc"}, {"hesitanci", "hesit"}, {"digitizer", "digit"},
      {"radicalli", "radic"}, {"differentli", "differ"}, {"vileli", "vile"}, {"analogousli", "analog"},
      {"vietnamization", "vietnam"}, {"predication", "predic"}, {"operator", "oper"}, {"feudalism", "feudal"},
      {"decisiveness", "decis"}, {"hopefulness", "hope"}, {"callousness", "callous"}, {"formaliti", "formal"},
      {"sensitiviti", "sensit"}, {"sensibiliti", "sensibl"}, {"triplicate", "triplic"}, {"formative", "form"},
      {"formalize", "formal"}, {"electriciti", "electr"}, {"electrical", "electr"}, {"hopeful", "hope"},
      {"goodness", "good"}, {"revival", "reviv"}, {"allowance", "allow"}, {"inference", "infer"},
      {"airliner", "airlin"}, {"gyroscopic", "gyroscop"}, {"adjustable", "adjust"}, {"defensible", "defens"},
      {"irritant", "irrit"}, {"replacement", "replac"}, {"adjustment", "adjust"}, {"dependent", "depend"},
      {"adoption", "adopt"}, {"homologou", "homolog"}, {"communism", "commun"}, {"activate", "activ"},
      {"angulariti", "angular"}, {"homologous", "homolog"}, {"effective", "effect"}, {"bowdlerize", "bowdler"},
      {"probate", "probat"}, {"rate", "rate"}, {"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"},
  };
  for (const auto& [w, s] : cases) EXPECT_EQ(porter_stem(w), s) << w;
}

TEST(Text, StemLeavesNonAlphaAlone) {
  EXPECT_EQ(porter_stem("2023"), "2023");
  EXPECT_EQ(porter_stem("mp3s"), "mp3s");
  EXPECT_EQ(porter_stem("as"), "as");
}

TEST(Text, NormalFormIgnoresCaseAndPunctuation) {
  EXPECT_EQ(normal_form("Thanks,  Mel!!"), normal_form("thanks mel"));
  EXPECT_NE(normal_form("thanks mel"), normal_form("thanks melanie"));
}

TEST(Text, Utf8Validation) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9"));
  EXPECT_FALSE(valid_utf8("\xc3"));          // truncated
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(valid_utf8("\xff"));
}

}  // namespace
}  // namespace mnemo::ltm
