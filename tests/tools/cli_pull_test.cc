// mnemo pull against a server on loopback: checksum, resume with Range, servers that ignore
// ranges, HTTP errors; never a file at the output path unless it is whole and verified.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "test_util.h"

namespace mnemo::test {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// SHA-256 via the CLI-independent coreutils tool, so the test does not trust mnemo's own.
std::string sha256_of(const std::string& path) {
  ProcessResult r = run_process({"/usr/bin/sha256sum", path});
  return r.out.substr(0, 64);
}

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(1);
    payload_.resize(3 * 1024 * 1024 + 17);
    for (char& c : payload_) c = static_cast<char>(rng());
    dir_ = temp_dir();
    ref_ = dir_ + "/reference.bin";
    std::ofstream(ref_, std::ios::binary) << payload_;
    server_.Get("/model.bin", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.has_header("Range")) ++range_requests_;
      res.set_content(payload_, "application/octet-stream");  // httplib answers Range with 206
    });
    server_.Get("/noranges.bin", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Accept-Ranges", "none");
      res.status = 200;
      res.set_content_provider(payload_.size(), "application/octet-stream",
                               [this](size_t offset, size_t length, httplib::DataSink& sink) {
                                 sink.write(payload_.data() + offset, std::min<size_t>(length, 65536));
                                 return true;
                               });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path) { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  std::string payload_, dir_, ref_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> range_requests_{0};
};

TEST_F(PullTest, DownloadsAndVerifies) {
  const std::string out = dir_ + "/m.bin";
  ProcessResult r = run_process({mnemo_bin(), "pull", url("/model.bin"), "-o", out, "--sha256", sha256_of(ref_)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_all(out), payload_);
  EXPECT_FALSE(exists(out + ".part"));
  EXPECT_TRUE(r.out.empty());
}

TEST_F(PullTest, WrongChecksumLeavesNothing) {
  const std::string out = dir_ + "/m.bin";
  ProcessResult r = run_process({mnemo_bin(), "pull", url("/model.bin"), "-o", out, "--sha256", std::string(64, 'a')});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sha256"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(out));
  EXPECT_FALSE(exists(out + ".part"));
}

TEST_F(PullTest, ResumesFromPartialFile) {
  const std::string out = dir_ + "/m.bin";
  std::ofstream(out + ".part", std::ios::binary) << payload_.substr(0, payload_.size() / 2);
  ProcessResult r = run_process({mnemo_bin(), "pull", url("/model.bin"), "-o", out, "--sha256", sha256_of(ref_)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_all(out), payload_);
  EXPECT_EQ(range_requests_.load(), 1);
}

TEST_F(PullTest, CompletePartialFileIsAccepted) {
  const std::string out = dir_ + "/m.bin";
  std::ofstream(out + ".part", std::ios::binary) << payload_;
  ProcessResult r = run_process({mnemo_bin(), "pull", url("/model.bin"), "-o", out, "--sha256", sha256_of(ref_)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_all(out), payload_);
}

TEST_F(PullTest, ServerIgnoringRangesRestarts) {
  const std::string out = dir_ + "/m.bin";
  std::ofstream(out + ".part", std::ios::binary) << payload_.substr(0, 1000);
  ProcessResult r = run_process({mnemo_bin(), "pull", url("/noranges.bin"), "-o", out, "--sha256", sha256_of(ref_)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_all(out), payload_);
}

TEST_F(PullTest, HttpErrorIsReported) {
  const std::string out = dir_ + "/m.bin";
  ProcessResult r = run_process({mnemo_bin(), "pull", url("/missing.bin"), "-o", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("404"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(out));
}

TEST_F(PullTest, BadChecksumArgumentIsUsageError) {
  ProcessResult r = run_process({mnemo_bin(), "pull", url("/model.bin"), "-o", dir_ + "/x", "--sha256", "abc"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

}  // namespace
}  // namespace mnemo::test
