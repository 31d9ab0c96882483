#include "ltm/ann/posting_file.h"

#include <fcntl.h>
#include <linux/aio_abi.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "base/log.h"
#include "ltm/ann/crc32c.h"

namespace mnemo::ltm::ann {
namespace {

constexpr char kMagic[8] = {'M', 'N', 'S', 'P', 'P', 'O', 'S', 'T'};
constexpr uint32_t kFormatVersion = 1;
constexpr unsigned kAioDepth = 256;

std::string errno_text() { return std::strerror(errno); }

Expected<int> open_fd(const std::string& path, int flags, bool* direct) {
  int fd = -1;
  if (*direct) {
    fd = ::open(path.c_str(), flags | O_DIRECT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EINVAL) {
      MNEMO_LOG_WARN("%s: O_DIRECT not supported by this filesystem; using buffered I/O", path.c_str());
      *direct = false;
    }
  }
  if (fd < 0 && !*direct) fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ENOENT) return not_found(path + ": cannot open: no such file");
    return io_error(path + ": cannot open: " + errno_text());
  }
  return fd;
}

Status pread_full(int fd, uint8_t* buf, size_t n, uint64_t off, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error(path + ": read at byte " + std::to_string(off + done) + " failed: " + errno_text());
    if (r == 0) {
      return corrupt(path + ": expected " + std::to_string(n) + " bytes at byte " + std::to_string(off) +
                     ", found end of file after " + std::to_string(done) + " (file truncated)");
    }
    done += size_t(r);
  }
  return Status::ok();
}

long sys_io_setup(unsigned nr, aio_context_t* ctx) { return syscall(SYS_io_setup, nr, ctx); }
long sys_io_destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
long sys_io_submit(aio_context_t ctx, long n, iocb** cbs) { return syscall(SYS_io_submit, ctx, n, cbs); }
long sys_io_getevents(aio_context_t ctx, long min_nr, long nr, io_event* ev) {
  return syscall(SYS_io_getevents, ctx, min_nr, nr, ev, nullptr);
}

}  // namespace

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { std::free(p_); }

void AlignedBuffer::resize(size_t bytes) {
  bytes = (bytes + kPageBytes - 1) / kPageBytes * kPageBytes;
  if (bytes <= n_) return;
  std::free(p_);
  void* p = nullptr;
  if (posix_memalign(&p, kPageBytes, bytes) != 0) MNEMO_CHECK_MSG(false, "out of memory for an I/O buffer");
  p_ = static_cast<uint8_t*>(p);
  n_ = bytes;
}

PostingFile::~PostingFile() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<std::unique_ptr<PostingFile>> PostingFile::create(const std::string& path, const PostingFileHeader& h,
                                                           bool direct_io) {
  bool direct = direct_io;
  MNEMO_ASSIGN_OR_RETURN(int fd, open_fd(path, O_RDWR | O_CREAT | O_TRUNC, &direct));
  std::unique_ptr<PostingFile> f(new PostingFile(path, fd, direct));
  AlignedBuffer page(kPageBytes);
  std::memset(page.data(), 0, kPageBytes);
  std::memcpy(page.data(), kMagic, 8);
  std::memcpy(page.data() + 8, &kFormatVersion, 4);
  std::memcpy(page.data() + 12, &h.dim, 4);
  std::memcpy(page.data() + 16, &h.record_bytes, 4);
  std::memcpy(page.data() + 24, &h.instance_id, 8);
  const uint32_t crc = crc32c(page.data(), 32);
  std::memcpy(page.data() + 32, &crc, 4);
  MNEMO_RETURN_IF_ERROR(f->write(Extent{0, 1}, page.data()));
  MNEMO_RETURN_IF_ERROR(f->sync());
  return f;
}

Expected<std::unique_ptr<PostingFile>> PostingFile::open(const std::string& path, const PostingFileHeader& expect,
                                                         bool direct_io) {
  bool direct = direct_io;
  MNEMO_ASSIGN_OR_RETURN(int fd, open_fd(path, O_RDWR, &direct));
  std::unique_ptr<PostingFile> f(new PostingFile(path, fd, direct));
  AlignedBuffer page(kPageBytes);
  MNEMO_RETURN_IF_ERROR(f->read(Extent{0, 1}, 1, page.data()));
  uint32_t version, dim, rec, crc;
  uint64_t instance;
  if (std::memcmp(page.data(), kMagic, 8) != 0) return corrupt(path + ": expected magic MNSPPOST, found other bytes");
  std::memcpy(&version, page.data() + 8, 4);
  std::memcpy(&dim, page.data() + 12, 4);
  std::memcpy(&rec, page.data() + 16, 4);
  std::memcpy(&instance, page.data() + 24, 8);
  std::memcpy(&crc, page.data() + 32, 4);
  if (crc32c(page.data(), 32) != crc) return corrupt(path + ": header checksum mismatch (file damaged)");
  if (version != kFormatVersion) {
    return corrupt(path + ": format version: expected " + std::to_string(kFormatVersion) + ", found " +
                   std::to_string(version));
  }
  if (dim != expect.dim || rec != expect.record_bytes || instance != expect.instance_id) {
    return corrupt(path + ": expected dimension " + std::to_string(expect.dim) + ", record " +
                   std::to_string(expect.record_bytes) + " bytes and the metadata's instance id, found dimension " +
                   std::to_string(dim) + ", record " + std::to_string(rec) +
                   " bytes, instance " + (instance == expect.instance_id ? "matching" : "different"));
  }
  return f;
}

uint64_t PostingFile::file_pages() const {
  struct stat st;
  if (fstat(fd_, &st) != 0) return 0;
  return uint64_t(st.st_size) / kPageBytes;
}

Status PostingFile::write(const Extent& e, const uint8_t* buf) {
  const size_t n = size_t(e.pages) * kPageBytes;
  const uint64_t off = e.page * kPageBytes;
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::pwrite(fd_, buf + done, n - done, static_cast<off_t>(off + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return io_error(path_ + ": write at byte " + std::to_string(off + done) + " failed: " + errno_text());
    done += size_t(w);
  }
  return Status::ok();
}

Status PostingFile::read(const Extent& e, uint32_t pages, uint8_t* buf) {
  return pread_full(fd_, buf, size_t(pages) * kPageBytes, e.page * kPageBytes, path_);
}

Status PostingFile::sync() {
  if (::fdatasync(fd_) != 0) return io_error(path_ + ": fdatasync failed: " + errno_text());
  return Status::ok();
}

Status PostingFile::truncate_pages(uint64_t pages) {
  if (::ftruncate(fd_, static_cast<off_t>(pages * kPageBytes)) != 0) {
    return io_error(path_ + ": truncate failed: " + errno_text());
  }
  return Status::ok();
}

BatchReader::BatchReader(const PostingFile* file) : file_(file) {
  aio_context_t ctx = 0;
  if (sys_io_setup(kAioDepth, &ctx) == 0) {
    ctx_ = ctx;
    slots_.resize(kAioDepth);
    for (uint32_t i = 0; i < kAioDepth; ++i) free_slots_.push_back(kAioDepth - 1 - i);
  }
}

BatchReader::~BatchReader() {
  drain();  // no read may land in a freed buffer
  if (ctx_ != 0) sys_io_destroy(ctx_);
}

void BatchReader::drain() {
  std::vector<uint32_t> done;
  while (in_flight_ > 0) {
    const size_t before = in_flight_;
    Status s = wait(&done);
    done.clear();
    if (!s.is_ok() && in_flight_ == before) break;  // io_getevents itself failed
  }
  queued_.clear();
}

Status BatchReader::submit(std::span<const Request> reqs) {
  if (ctx_ == 0) {
    queued_.insert(queued_.end(), reqs.begin(), reqs.end());
    in_flight_ += reqs.size();
    return Status::ok();
  }
  std::vector<iocb> cbs;
  std::vector<iocb*> ptrs;
  size_t i = 0;
  while (i < reqs.size()) {
    if (free_slots_.empty()) {
      // Queue full: the caller collects completions first.
      return internal_error(file_->path() + ": more than " + std::to_string(kAioDepth) + " reads in flight");
    }
    cbs.clear();
    ptrs.clear();
    const size_t batch = std::min(reqs.size() - i, free_slots_.size());
    cbs.resize(batch);
    for (size_t j = 0; j < batch; ++j) {
      const Request& r = reqs[i + j];
      const uint32_t slot = free_slots_.back();
      free_slots_.pop_back();
      slots_[slot] = r;
      iocb& cb = cbs[j];
      std::memset(&cb, 0, sizeof(cb));
      cb.aio_data = slot;
      cb.aio_fildes = uint32_t(file_->fd());
      cb.aio_lio_opcode = IOCB_CMD_PREAD;
      cb.aio_buf = reinterpret_cast<uint64_t>(r.buf);
      cb.aio_nbytes = uint64_t(r.pages) * kPageBytes;
      cb.aio_offset = int64_t(r.page * kPageBytes);
      ptrs.push_back(&cb);
    }
    size_t sent = 0;
    while (sent < batch) {
      long rc = sys_io_submit(ctx_, long(batch - sent), ptrs.data() + sent);
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0 && errno == EAGAIN) {
        // Kernel queue full: fall back to reading the rest synchronously.
        for (size_t j = sent; j < batch; ++j) {
          const uint32_t slot = uint32_t(ptrs[j]->aio_data);
          queued_.push_back(slots_[slot]);
          free_slots_.push_back(slot);
        }
        in_flight_ += batch - sent;
        break;
      }
      if (rc <= 0) return io_error(file_->path() + ": io_submit failed: " + errno_text());
      sent += size_t(rc);
      in_flight_ += size_t(rc);
    }
    i += batch;
  }
  return Status::ok();
}

Status BatchReader::wait(std::vector<uint32_t>* done) {
  if (in_flight_ == 0) return Status::ok();
  if (!queued_.empty()) {
    const Request r = queued_.back();
    queued_.pop_back();
    --in_flight_;
    MNEMO_RETURN_IF_ERROR(pread_full(file_->fd(), r.buf, size_t(r.pages) * kPageBytes, r.page * kPageBytes,
                                     file_->path()));
    done->push_back(r.tag);
    return Status::ok();
  }
  io_event ev[64];
  long n;
  do {
    n = sys_io_getevents(ctx_, 1, 64, ev);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return io_error(file_->path() + ": io_getevents failed: " + errno_text());
  Status first;
  for (long i = 0; i < n; ++i) {
    const uint32_t slot = uint32_t(ev[i].data);
    const Request r = slots_[slot];
    free_slots_.push_back(slot);
    --in_flight_;
    const int64_t want = int64_t(r.pages) * int64_t(kPageBytes);
    if (ev[i].res < 0) {
      if (first.is_ok()) {
        first = io_error(file_->path() + ": read at page " + std::to_string(r.page) +
                         " failed: " + std::strerror(int(-ev[i].res)));
      }
    } else if (ev[i].res != want) {
      if (first.is_ok()) {
        first = corrupt(file_->path() + ": expected " + std::to_string(want) + " bytes at page " +
                        std::to_string(r.page) + ", found " + std::to_string(ev[i].res) + " (file truncated)");
      }
    } else {
      done->push_back(r.tag);
    }
  }
  return first;
}

Extent ExtentAllocator::alloc(uint32_t pages) {
  MNEMO_CHECK(pages > 0);
  auto it = free_by_size_.lower_bound({pages, 0});
  if (it != free_by_size_.end()) {
    const uint64_t len = it->first, page = it->second;
    free_by_size_.erase(it);
    free_by_page_.erase(page);
    if (len > pages) insert_free(page + pages, len - pages);
    return Extent{page, pages};
  }
  Extent e{end_, pages};
  end_ += pages;
  return e;
}

void ExtentAllocator::insert_free(uint64_t page, uint64_t pages) {
  free_by_page_[page] = pages;
  free_by_size_.insert({pages, page});
}

void ExtentAllocator::free(const Extent& e) {
  if (e.empty()) return;
  uint64_t page = e.page, len = e.pages;
  auto next = free_by_page_.find(page + len);
  if (next != free_by_page_.end()) {
    len += next->second;
    free_by_size_.erase({next->second, next->first});
    free_by_page_.erase(next);
  }
  auto it = free_by_page_.lower_bound(page);
  if (it != free_by_page_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == page) {
      page = prev->first;
      len += prev->second;
      free_by_size_.erase({prev->second, prev->first});
      free_by_page_.erase(prev);
    }
  }
  if (page + len == end_) {
    end_ = page;
    return;
  }
  insert_free(page, len);
}

void ExtentAllocator::rebuild(uint64_t first_page, std::vector<Extent> used) {
  reset(first_page);
  std::sort(used.begin(), used.end(), [](const Extent& a, const Extent& b) { return a.page < b.page; });
  uint64_t cursor = first_page;
  for (const Extent& e : used) {
    if (e.empty()) continue;
    if (e.page > cursor) insert_free(cursor, e.page - cursor);
    cursor = std::max(cursor, e.page + e.pages);
  }
  end_ = cursor;
}

uint64_t ExtentAllocator::free_pages() const {
  uint64_t n = 0;
  for (const auto& [p, l] : free_by_page_) n += l;
  return n;
}

}  // namespace mnemo::ltm::ann
