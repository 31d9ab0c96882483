// Rules of the source tree that the compiler cannot enforce.
//
// Status::ok() is a static factory that makes the ok status. Called through an instance (a Status
// named st, then a dot, then ok with no arguments) it compiles, ignores st and yields an ok Status,
// which converts to true, so negating it is never true. The server once hid KV-pool refusals that
// way. Tests of a Status use is_ok().
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <gtest/gtest.h>

namespace mnemo {
namespace {

namespace fs = std::filesystem;

TEST(SourceRules, NoInstanceCallsOfTheStaticStatusOk) {
  const std::regex instance_ok(R"((\.|->)\s*ok\s*\(\s*\))");
  const fs::path root(MNEMO_SOURCE_DIR);
  int files = 0;
  for (const char* dir : {"src", "include", "tools", "tests", "bench", "fuzz"}) {
    if (!fs::exists(root / dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
      ++files;
      std::ifstream f(e.path());
      std::string line;
      for (int n = 1; std::getline(f, line); ++n) {
        EXPECT_FALSE(std::regex_search(line, instance_ok))
            << e.path().string() << ":" << n << ": use is_ok(); ok() is the static factory\n  " << line;
      }
    }
  }
  EXPECT_GT(files, 100);  // the tree was found
}

}  // namespace
}  // namespace mnemo
