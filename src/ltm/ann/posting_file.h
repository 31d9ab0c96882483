// ltm/ann/posting_file.h: the SPANN posting-list file: extents of whole 4 KiB pages read with
// O_DIRECT, so the page cache never stands in for RAM (SPANN keeps lists on SSD; Chen et al. 2021).
//
// Page 0 is a header (magic, format version, dimension, record size, instance id); extents start
// at page 1. An extent belongs to one posting list. Which extents are live, how many records each
// holds and their checksums are in the index's metadata, not here: this file is only pages.
//
// Batched reads go through Linux native AIO (io_submit), so all lists a query probes are read in
// one parallel batch (SPANN issues its posting reads asynchronously); when AIO is unavailable the
// reader falls back to pread. When the filesystem refuses O_DIRECT (tmpfs), buffered I/O is used
// and direct_io() says so.
//
// Thread-safety: PostingFile methods are safe to call concurrently (pread/pwrite); a BatchReader
// belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::ltm::ann {

constexpr uint64_t kPageBytes = 4096;

struct Extent {
  uint64_t page = 0;   // first page (0 = none; page 0 is the header)
  uint32_t pages = 0;  // length in pages
  bool empty() const { return pages == 0; }
  bool operator==(const Extent& o) const { return page == o.page && pages == o.pages; }
};

struct PostingFileHeader {
  uint32_t dim = 0;
  uint32_t record_bytes = 0;
  uint64_t instance_id = 0;  // also recorded in the metadata: the files belong together
};

// A page-aligned buffer (O_DIRECT needs aligned memory).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) { resize(bytes); }
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();
  // Grows to at least `bytes` (rounded up to pages); contents are not kept.
  void resize(size_t bytes);
  uint8_t* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  uint8_t* p_ = nullptr;
  size_t n_ = 0;
};

class PostingFile {
 public:
  // Creates (truncating) or opens `path`. Opening checks the header against `expect`.
  static Expected<std::unique_ptr<PostingFile>> create(const std::string& path, const PostingFileHeader& header,
                                                       bool direct_io);
  static Expected<std::unique_ptr<PostingFile>> open(const std::string& path, const PostingFileHeader& expect,
                                                     bool direct_io);
  ~PostingFile();

  const std::string& path() const { return path_; }
  bool direct_io() const { return direct_; }
  int fd() const { return fd_; }
  // Pages in the file (including the header page).
  uint64_t file_pages() const;

  // Writes `e.pages` pages from `buf` (page-aligned, e.pages * 4096 bytes).
  Status write(const Extent& e, const uint8_t* buf);
  // Reads the first `pages` pages of `e` into `buf`.
  Status read(const Extent& e, uint32_t pages, uint8_t* buf);
  Status sync();
  Status truncate_pages(uint64_t pages);

 private:
  PostingFile(std::string path, int fd, bool direct) : path_(std::move(path)), fd_(fd), direct_(direct) {}
  std::string path_;
  int fd_ = -1;
  bool direct_ = false;
};

// Reads many extents at once. Submit a batch, then collect completions in any order.
class BatchReader {
 public:
  struct Request {
    uint64_t page = 0;
    uint32_t pages = 0;
    uint8_t* buf = nullptr;  // page-aligned, pages * 4096 bytes
    uint32_t tag = 0;        // returned on completion
  };

  explicit BatchReader(const PostingFile* file);
  ~BatchReader();
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  bool async() const { return ctx_ != 0; }
  // Queues reads (submitted at once when AIO is available).
  Status submit(std::span<const Request> reqs);
  // Waits for at least one queued read and appends the tags of finished ones to `done`.
  // A short read (file truncated) is kCorrupt.
  Status wait(std::vector<uint32_t>* done);
  size_t in_flight() const { return in_flight_; }
  // Waits for every queued read (results dropped), so that their buffers can be reused.
  void drain();

 private:
  const PostingFile* file_;
  unsigned long ctx_ = 0;  // aio_context_t; 0 = synchronous fallback
  size_t in_flight_ = 0;
  std::vector<Request> queued_;  // synchronous mode
  std::vector<Request> slots_;   // AIO: request by slot
  std::vector<uint32_t> free_slots_;
};

// First-fit by size over free page runs, coalescing neighbours. Pages past end() are free.
class ExtentAllocator {
 public:
  void reset(uint64_t first_page) {
    free_by_page_.clear();
    free_by_size_.clear();
    end_ = first_page;
  }
  Extent alloc(uint32_t pages);
  void free(const Extent& e);
  // Marks the pages [end, used_end) used and the gaps between `used` extents free (at open).
  void rebuild(uint64_t first_page, std::vector<Extent> used);
  uint64_t end() const { return end_; }
  uint64_t free_pages() const;

 private:
  void insert_free(uint64_t page, uint64_t pages);
  std::map<uint64_t, uint64_t> free_by_page_;              // page -> length
  std::set<std::pair<uint64_t, uint64_t>> free_by_size_;   // (length, page)
  uint64_t end_ = 1;
};

}  // namespace mnemo::ltm::ann
