// Bad input reaches the user as one line "mnemo: error: <subject>: <what>" on stderr, exit code 1
// (2 for usage errors), nothing on stdout and no partial output file.
#include <fstream>
#include <iterator>

#include "test_util.h"

namespace mnemo::test {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

void expect_error(const ProcessResult& r, int code, const std::string& needle) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.err.rfind("mnemo: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliErrors, MissingTokenizerForLlama2cIsUsageError) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  expect_error(run_process({mnemo_bin(), "run", "-m", data_path("models/stories260K.bin"), "-p", "x"}), 2, "-z");
}

// KV cache types: an unknown name is a usage error naming the flag, in every command that makes a
// context; a block type on heads that are not whole blocks (stories260K: head size 8) too, before
// anything runs. llama.cpp's -ctk/-ctv spellings are the same options.
TEST(CliErrors, BadKvCacheTypesAreUsageErrors) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  const std::string m = data_path("models/stories260K.gguf"),
                    text = data_path("text/tinystories_val.txt");
  const std::vector<std::vector<std::string>> commands = {
      {mnemo_bin(), "run", "-m", m, "-p", "x", "-n", "2"},
      {mnemo_bin(), "perplexity", "-m", m, "-f", text, "-c", "128", "--chunks", "1"},
      {mnemo_bin(), "bench", "-m", m, "-p", "8", "-n", "0", "-r", "1"}};
  for (const auto& base : commands) {
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> argv = base;
      argv.insert(argv.end(), extra.begin(), extra.end());
      return run_process(argv);
    };
    SCOPED_TRACE(base[1]);
    expect_error(with({"--cache-type-k", "q5_1"}), 2, "--cache-type-k");
    expect_error(with({"-ctv", "F16"}), 2, "--cache-type-v");
    expect_error(with({"-ctk", "q8_0"}), 2,
                 "--cache-type-k: K cache type q8_0: expected a head size that is a multiple of "
                 "its block of 32 values, found head size 8");
    expect_error(with({"-ctv=q4_0"}), 2, "--cache-type-v: V cache type q4_0");
  }
}

TEST(CliErrors, MissingModelFile) {
  expect_error(run_process({mnemo_bin(), "run", "-m", "/nonexistent/model.gguf", "-p", "x"}), 1,
               "/nonexistent/model.gguf");
}

TEST(CliErrors, UnknownOptionIsUsageError) {
  ProcessResult r = run_process({mnemo_bin(), "run", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty());
}

TEST(CliErrors, TruncatedGguf) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  const std::string bytes = read_all(data_path("models/stories260K.gguf"));
  const std::string dir = temp_dir();
  for (size_t len : {size_t{3}, size_t{24}, size_t{1000}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = dir + "/truncated.gguf";
    write_all(path, bytes.substr(0, len));
    expect_error(run_process({mnemo_bin(), "run", "-m", path, "-p", "x", "-n", "4"}), 1, path);
    expect_error(run_process({mnemo_bin(), "info", path}), 1, path);
  }
}

TEST(CliErrors, WrongMagicAndGarbage) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/garbage.bin";
  write_all(path, std::string(4096, 'x'));
  expect_error(run_process({mnemo_bin(), "run", "-m", path, "-z", path, "-p", "x"}), 1, path);
  write_all(path, "GGUF\x01\x00\x00\x00" + std::string(64, '\0'));
  expect_error(run_process({mnemo_bin(), "info", path}), 1, path);
}

TEST(CliErrors, PromptLongerThanContext) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "Once upon a time there was a cat. ";
  expect_error(run_process({mnemo_bin(), "run", "-m", data_path("models/stories260K.bin"), "-z",
                            data_path("models/tok512.bin"), "-c", "32", "-p", prompt}),
               1, "context");
}

TEST(CliErrors, ConvertLeavesNoPartialFile) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  const std::string dir = temp_dir();
  const std::string bad_tok = dir + "/bad_tok.bin";
  write_all(bad_tok, std::string("\x07\x00\x00\x00", 4) + std::string(10, '\xff'));
  const std::string out = dir + "/out.gguf";
  ProcessResult r = run_process({mnemo_bin(), "convert", data_path("models/stories260K.bin"), "-z", bad_tok, "-o", out});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(exists(out));
  EXPECT_NE(r.err.find(bad_tok), std::string::npos) << r.err;
}

TEST(CliErrors, GenModelUnwritableDirectory) {
  ProcessResult r = run_process({mnemo_bin(), "gen-model", "--shape", "tiny", "--dtype", "F16", "-o", "/nonexistent/dir/m.gguf"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/dir/m.gguf"), std::string::npos) << r.err;
}

TEST(CliErrors, GenModelBadDtypeIsUsageError) {
  const std::string out = temp_dir() + "/m.gguf";
  ProcessResult r = run_process({mnemo_bin(), "gen-model", "--shape", "tiny", "--dtype", "Q9_9", "-o", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(exists(out));
}

// A directory where a model or a text file is expected: one clear line, exit 1.
TEST(CliErrors, DirectoryAsModelOrTextFile) {
  const std::string dir = temp_dir();
  const std::string want = dir + ": is a directory, expected a model file";
  expect_error(run_process({mnemo_bin(), "info", "-m", dir}), 1, want);
  expect_error(run_process({mnemo_bin(), "info", dir}), 1, want);
  expect_error(run_process({mnemo_bin(), "run", "-m", dir, "-p", "x"}), 1, want);
  expect_error(run_process({mnemo_bin(), "quantize", dir, dir + "/out.gguf", "--type", "q8_0"}), 1, want);
  // Text inputs: a tokenizer (a tiny generated model's vocabulary), then a directory as the text.
  const std::string model = dir + "/m.gguf";
  ASSERT_EQ(run_process({mnemo_bin(), "gen-model", "--shape", "micro", "--dtype", "F32", "-o", model}).exit_code, 0);
  expect_error(run_process({mnemo_bin(), "tokenize", dir, "-m", model, "-o", dir + "/t.bin"}), 1,
               dir + ": is a directory, expected a text file");
  expect_error(run_process({mnemo_bin(), "quantize", model, dir + "/q.gguf", "--type", "int4-sym", "--calib", dir}), 1,
               dir + ": is a directory, expected a text file");
  EXPECT_FALSE(exists(dir + "/t.bin"));
  EXPECT_FALSE(exists(dir + "/q.gguf"));
}

// An unknown command is a usage error whatever follows it (CLI11 alone printed the main help
// and exited 0 for `mnemo nosuch --help`).
TEST(CliErrors, UnknownCommandIsUsageError) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"nosuch"}, {"nosuch", "--help"}, {"nosuch", "-h"}, {"nosuch", "run", "--help"},
        {"--version-typo", "nosuch", "--help"}}) {
    std::vector<std::string> argv = {mnemo_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = run_process(argv);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find("mnemo: error: "), std::string::npos) << r.err;
  }
  ProcessResult r = run_process({mnemo_bin(), "nosuch", "--help"});
  EXPECT_NE(r.err.find("nosuch: expected a command ("), std::string::npos) << r.err;
  // Help itself still works.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"run", "--help"}, {"gen-model", "-h"}}) {
    std::vector<std::string> argv = {mnemo_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult h = run_process(argv);
    EXPECT_EQ(h.exit_code, 0) << args[0] << ": " << h.err;
    EXPECT_FALSE(h.out.empty());
  }
}

// gen-model refuses, before writing anything, the values its own loader would reject (one rule,
// model/config.h), and those out of range: exit 1, no file.
TEST(CliErrors, GenModelOutOfRangeParameters) {
  const std::string dir = temp_dir();
  const std::string out = dir + "/m.gguf";
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--rope-base", "0.5"}, "--rope-base: expected a finite RoPE frequency base > 1, found 0.5"},
      {{"--rope-base", "1"}, "--rope-base: expected a finite RoPE frequency base > 1, found 1"},
      {{"--rope-base", "-3"}, "--rope-base: expected a finite RoPE frequency base > 1, found -3"},
      {{"--rope-base", "1e39"}, "--rope-base: expected a finite RoPE frequency base > 1, found inf"},
      {{"--rope-scaling", "-2"}, "--rope-scaling: expected a linear RoPE scaling factor between 1e-30 and 1e30, found -2"},
      {{"--rope-scaling", "1e-50"}, "--rope-scaling: expected a linear RoPE scaling factor between 1e-30 and 1e30, found 0"},
      {{"--tied", "3"}, "--tied: expected 0 or 1, found 3"},
      {{"--n-head-kv", "3"}, "--n-head-kv: expected 0 (the shape's) or a divisor of the shape's 4 heads, found 3"},
      {{"--n-head-kv", "-1"}, "--n-head-kv: expected 0 (the shape's) or a divisor of the shape's 4 heads, found -1"},
  };
  for (const auto& [flags, want] : cases) {
    std::vector<std::string> argv = {mnemo_bin(), "gen-model", "--shape", "micro", "--dtype", "F32", "-o", out};
    argv.insert(argv.end(), flags.begin(), flags.end());
    expect_error(run_process(argv), 1, want);
    EXPECT_FALSE(exists(out)) << flags[0] << " " << flags[1];
  }
  // The edge of what the loader accepts is written and loads.
  ProcessResult r = run_process({mnemo_bin(), "gen-model", "--shape", "micro", "--dtype", "F32", "-o", out,
                                 "--rope-base", "1.5", "--rope-scaling", "0.25"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_process({mnemo_bin(), "info", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// -t far above the machine's CPUs is capped at them with one warning, and the run completes.
TEST(CliErrors, ThreadsAboveCpusAreCapped) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  ProcessResult r = run_process({mnemo_bin(), "run", "-m", data_path("models/stories260K.gguf"), "-p", "Once", "-n", "4",
                                 "--temp", "0", "-t", "100000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  const std::string warning = "mnemo: warning: 100000 threads requested, more than the ";
  const size_t at = r.err.find(warning);
  ASSERT_NE(at, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("threads requested", at + warning.size()), std::string::npos) << "expected one warning: " << r.err;
}

}  // namespace
}  // namespace mnemo::test
