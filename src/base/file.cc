#include "base/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/strings.h"
#include "mnemo/util.h"

namespace mnemo {
namespace {

std::string errno_text() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

size_t page_size() {
  static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

}  // namespace

Status check_openable_file(const std::string& path, const char* what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return not_found(path + ": cannot open " + what + ": no such file");
    return io_error(path + ": cannot open " + what + ": " + errno_text());
  }
  if (S_ISDIR(st.st_mode)) return io_error(path + ": is a directory, expected a " + what);
  return Status::ok();
}

Expected<std::string> read_text_file(const std::string& path) {
  MNEMO_RETURN_IF_ERROR(check_openable_file(path, "text file"));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path + ": cannot open text file: " + errno_text());
  // read() until end of file, so that pipes and /dev/stdin work as well as regular files.
  std::string text;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = io_error(path + ": read failed after " + std::to_string(text.size()) + " bytes: " + errno_text());
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

Expected<FileBytes> FileBytes::open(const std::string& path, MapMode mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return not_found(path + ": cannot open: no such file");
    return io_error(path + ": cannot open: " + errno_text());
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    Status s = io_error(path + ": cannot stat: " + errno_text());
    ::close(fd);
    return s;
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return io_error(path + ": is a directory, expected a file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument(path + ": expected a regular file");
  }
  FileBytes fb;
  fb.path_ = path;
  fb.size_ = static_cast<size_t>(st.st_size);
  if (fb.size_ == 0) {
    ::close(fd);
    return fb;
  }
  if (mode == MapMode::kMap) {
    void* p = mmap(nullptr, fb.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return io_error(path + ": cannot map: " + errno_text());
    fb.data_ = static_cast<uint8_t*>(p);
    fb.mapped_ = true;
    return fb;
  }
  void* buf = nullptr;
  if (posix_memalign(&buf, page_size(), fb.size_) != 0) {
    ::close(fd);
    return resource_exhausted(path + ": cannot allocate " + format_bytes(fb.size_) + " to read it");
  }
  fb.data_ = static_cast<uint8_t*>(buf);
  size_t done = 0;
  while (done < fb.size_) {
    ssize_t n = ::read(fd, fb.data_ + done, fb.size_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = io_error(path + ": read failed after " + std::to_string(done) + " bytes: " +
                          (n < 0 ? errno_text() : std::string("unexpected end of file")));
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return fb;
}

FileBytes::~FileBytes() {
  if (data_ == nullptr) return;
  if (locked_) munlock(data_, size_);
  if (mapped_) {
    munmap(data_, size_);
  } else {
    std::free(data_);
  }
}

void FileBytes::swap(FileBytes& o) noexcept {
  std::swap(path_, o.path_);
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  std::swap(mapped_, o.mapped_);
  std::swap(locked_, o.locked_);
}

Status FileBytes::lock() {
  if (data_ == nullptr || locked_) return Status::ok();
  if (mlock(data_, size_) != 0) {
    return resource_exhausted(path_ + ": cannot lock " + format_bytes(size_) +
                              " in RAM (mlock: " + errno_text() + "; raise `ulimit -l`)");
  }
  locked_ = true;
  return Status::ok();
}

uint64_t FileBytes::resident_bytes() const {
  if (data_ == nullptr) return 0;
  if (!mapped_) return size_;
  const size_t ps = page_size();
  size_t pages = (size_ + ps - 1) / ps;
  std::vector<unsigned char> vec(pages);
  if (mincore(data_, size_, vec.data()) != 0) return 0;
  uint64_t resident = 0;
  for (size_t i = 0; i < pages; ++i) {
    if (vec[i] & 1) resident += ps;
  }
  return resident > size_ ? size_ : resident;
}

void FileBytes::prefetch() const {
  if (mapped_ && data_ != nullptr) madvise(data_, size_, MADV_WILLNEED);
}

Expected<std::string> read_file(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(FileBytes fb, FileBytes::open(path, MapMode::kRead));
  return std::string(reinterpret_cast<const char*>(fb.data()), fb.size());
}

Expected<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::create(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  std::string tmp = str_printf("%s.tmp-%d-%u", path.c_str(), static_cast<int>(getpid()),
                               counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error(path + ": cannot create: " + errno_text());
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, tmp, fd));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

Status AtomicFileWriter::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(path_ + ": write failed: " + errno_text());
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
  return Status::ok();
}

Status AtomicFileWriter::write(const void* data, size_t n) {
  if (fd_ < 0) return internal_error(path_ + ": write after commit");
  const char* p = static_cast<const char*>(data);
  written_ += n;
  constexpr size_t kBuffer = 1 << 20;
  if (buffer_.size() + n < kBuffer) {
    buffer_.append(p, n);
    return Status::ok();
  }
  MNEMO_RETURN_IF_ERROR(flush());
  if (n < kBuffer) {
    buffer_.append(p, n);
    return Status::ok();
  }
  buffer_.assign(p, n);
  return flush();
}

Status AtomicFileWriter::pad_to(uint64_t alignment) {
  if (alignment == 0) return Status::ok();
  uint64_t rem = written_ % alignment;
  if (rem == 0) return Status::ok();
  std::string zeros(static_cast<size_t>(alignment - rem), '\0');
  return write(zeros.data(), zeros.size());
}

Status AtomicFileWriter::commit() {
  if (fd_ < 0) return internal_error(path_ + ": commit twice");
  MNEMO_RETURN_IF_ERROR(flush());
  if (fsync(fd_) != 0) return io_error(path_ + ": fsync failed: " + errno_text());
  if (::close(fd_) != 0) {
    fd_ = -1;
    return io_error(path_ + ": close failed: " + errno_text());
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    return io_error(path_ + ": rename from temporary failed: " + errno_text());
  }
  committed_ = true;
  return sync_parent_dir(path_);
}

Status write_file_atomic(const std::string& path, std::span<const uint8_t> contents) {
  MNEMO_ASSIGN_OR_RETURN(auto writer, AtomicFileWriter::create(path));
  MNEMO_RETURN_IF_ERROR(writer->write(contents));
  return writer->commit();
}

Status write_file_atomic(const std::string& path, const std::string& contents) {
  return write_file_atomic(
      path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(contents.data()), contents.size()));
}

Status sync_parent_dir(const std::string& path) {
  std::string dir = parent_dir(path);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error(dir + ": cannot open directory to sync: " + errno_text());
  int rc = fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error(dir + ": fsync of directory failed: " + errno_text());
  return Status::ok();
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace mnemo
