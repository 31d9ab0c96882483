// base/file: what reading a file says when the path is not a readable file (missing, a
// directory, unreadable), for read_text_file (mnemo/util.h), FileBytes and Model::load's check.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "base/file.h"
#include "mnemo/util.h"
#include "test_util.h"

namespace mnemo {
namespace {

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

TEST(ReadTextFile, ReadsWholeFile) {
  const std::string dir = test::temp_dir();
  const std::string bytes = std::string("line one\nline two\n") + std::string(200000, 'x') + std::string("\0\xff", 2);
  write_all(dir + "/t.txt", bytes);
  auto text = read_text_file(dir + "/t.txt");
  ASSERT_TRUE(text.has_value()) << text.status().message();
  EXPECT_EQ(*text, bytes);
  write_all(dir + "/empty.txt", "");
  auto empty = read_text_file(dir + "/empty.txt");
  ASSERT_TRUE(empty.has_value()) << empty.status().message();
  EXPECT_TRUE(empty->empty());
}

TEST(ReadTextFile, ReadsAPipe) {
  const std::string fifo = test::temp_dir() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { write_all(fifo, "through a pipe"); });
  auto text = read_text_file(fifo);
  writer.join();
  ASSERT_TRUE(text.has_value()) << text.status().message();
  EXPECT_EQ(*text, "through a pipe");
}

TEST(ReadTextFile, MissingFile) {
  auto text = read_text_file("/nonexistent/prompt.txt");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(text.status().message(), "/nonexistent/prompt.txt: cannot open text file: no such file");
}

TEST(ReadTextFile, DirectoryIsAClearError) {
  const std::string dir = test::temp_dir();
  auto text = read_text_file(dir);
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.status().code(), StatusCode::kIoError);
  EXPECT_EQ(text.status().message(), dir + ": is a directory, expected a text file");
}

TEST(ReadTextFile, UnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const std::string path = test::temp_dir() + "/secret.txt";
  write_all(path, "x");
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  auto text = read_text_file(path);
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.status().code(), StatusCode::kIoError);
  EXPECT_TRUE(contains(text.status().message(), path + ": cannot open text file: ")) << text.status().message();
}

TEST(CheckOpenableFile, NamesWhatWasExpected) {
  const std::string dir = test::temp_dir();
  Status s = check_openable_file(dir, "model file");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(), dir + ": is a directory, expected a model file");
  s = check_openable_file(dir + "/none.gguf", "model file");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), dir + "/none.gguf: cannot open model file: no such file");
  write_all(dir + "/m.gguf", "GGUF");
  EXPECT_TRUE(check_openable_file(dir + "/m.gguf", "model file").is_ok());
}

TEST(FileBytes, DirectoryIsAClearError) {
  const std::string dir = test::temp_dir();
  for (MapMode mode : {MapMode::kMap, MapMode::kRead}) {
    auto fb = FileBytes::open(dir, mode);
    ASSERT_FALSE(fb.has_value());
    EXPECT_EQ(fb.status().code(), StatusCode::kIoError);
    EXPECT_EQ(fb.status().message(), dir + ": is a directory, expected a file");
  }
}

}  // namespace
}  // namespace mnemo
