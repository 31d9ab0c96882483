// ltm/vector_file.h: the memories' vectors on disk, an append-only log derived from the database.
//
// Layout (little-endian):
//   header (128 bytes): "MNVEC001", u32 version (1), u32 dim, u32 name length, char name[100]
//                       (the embedder's space, zero-padded), u32 reserved, u32 crc32 of bytes 0..123
//   records: u32 magic 0x52434556 ('VECR'), u32 op (1 put, 2 delete), u64 id, u64 seq,
//            u64 corpus_n (the embedder's corpus size when the vector was made),
//            f32 vector[dim] (put only), u32 crc32 of the record's preceding bytes
// The newest record of an id wins. A torn or damaged tail (a crash mid-append) is cut at the last
// good record; a damaged header, another dimension or another embedder makes open() fail with
// kCorrupt, and the service rebuilds the file from the database. Records carry the memory's seq,
// so at open the service finds vectors that are behind the database (and re-embeds them).
//
// Appends go to the page cache (no fsync: the database is the durable copy); sync() forces them.
// Thread-safety: none; the service serialises access.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::ltm {

uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

class VectorFile {
 public:
  struct Entry {
    uint64_t seq = 0;
    uint64_t corpus_n = 0;
    std::vector<float> vec;
  };
  struct LoadStats {
    uint64_t records = 0;
    uint64_t truncated_bytes = 0;  // a damaged tail that was cut
  };

  // Opens an existing file and loads the newest vector of every live id into `out`.
  static Expected<std::unique_ptr<VectorFile>> open(const std::string& path, int dim, const std::string& space,
                                                    std::unordered_map<uint64_t, Entry>* out, LoadStats* stats);
  // Replaces the file (atomically) with one holding exactly `entries`.
  static Expected<std::unique_ptr<VectorFile>> rewrite(const std::string& path, int dim, const std::string& space,
                                                       const std::unordered_map<uint64_t, Entry>& entries);
  ~VectorFile();

  Status put(uint64_t id, uint64_t seq, uint64_t corpus_n, std::span<const float> vec);
  Status remove(uint64_t id, uint64_t seq);
  // Writes buffered records to the file (no fsync).
  Status write_out();
  // write_out() + fdatasync.
  Status sync();
  uint64_t records() const { return records_; }
  uint64_t bytes() const { return bytes_; }
  const std::string& path() const { return path_; }

 private:
  VectorFile(std::string path, int fd, int dim) : path_(std::move(path)), fd_(fd), dim_(dim) {}
  std::string path_;
  int fd_ = -1;
  int dim_ = 0;
  std::string buf_;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace mnemo::ltm
