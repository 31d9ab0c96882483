// base/file.h: files as mnemo uses them: read-only mappings for weights, whole-file reads for
// small inputs, and crash-safe writes (temporary file, fsync, rename, fsync of the directory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "mnemo/status.h"

namespace mnemo {

enum class MapMode {
  kMap,   // mmap(PROT_READ, MAP_PRIVATE): pages come from the page cache on first touch
  kRead,  // read() into an owned, page-aligned buffer (--no-mmap)
};

// The bytes of a file, either mapped or read into owned memory. Move-only; unmaps or frees on
// destruction. Views (spans, TensorViews) into it must not outlive it.
class FileBytes {
 public:
  static Expected<FileBytes> open(const std::string& path, MapMode mode = MapMode::kMap);

  FileBytes() = default;
  FileBytes(FileBytes&& other) noexcept { swap(other); }
  FileBytes& operator=(FileBytes&& other) noexcept {
    FileBytes tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  ~FileBytes();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  bool is_mapped() const { return mapped_; }

  // Pins the pages in RAM (mlock). Fails with kResourceExhausted when RLIMIT_MEMLOCK is too low.
  Status lock();
  // Bytes of this file currently resident in RAM (mincore for mappings, size otherwise).
  uint64_t resident_bytes() const;
  // Hints the kernel to read ahead the whole range (MADV_WILLNEED); a no-op for kRead.
  void prefetch() const;

 private:
  void swap(FileBytes& o) noexcept;

  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  bool locked_ = false;
};

// Reads a whole file into a string (for text, JSON and small binaries).
Expected<std::string> read_file(const std::string& path);

// Whether `path` names something that can be opened as a file, before a loader sniffs it: a
// missing path is kNotFound ("<path>: cannot open <what>: no such file"), a directory kIoError
// ("<path>: is a directory, expected a <what>"). `what` names the expected file ("model file").
// read_text_file (mnemo/util.h) and Model::load report through it.
Status check_openable_file(const std::string& path, const char* what);

// Writes a file so that readers see either the old content or the whole new content, never a
// prefix: data goes to "<path>.tmp-<pid>-<n>" in the same directory, is fsynced, renamed over
// `path`, and the directory is fsynced. If commit() is not reached the temporary is removed.
class AtomicFileWriter {
 public:
  static Expected<std::unique_ptr<AtomicFileWriter>> create(const std::string& path);
  ~AtomicFileWriter();

  Status write(const void* data, size_t n);
  Status write(std::span<const uint8_t> bytes) { return write(bytes.data(), bytes.size()); }
  // Writes zero bytes until the file size is a multiple of `alignment`.
  Status pad_to(uint64_t alignment);
  uint64_t bytes_written() const { return written_; }
  Status commit();

 private:
  AtomicFileWriter(std::string path, std::string tmp_path, int fd)
      : path_(std::move(path)), tmp_path_(std::move(tmp_path)), fd_(fd) {}
  Status flush();

  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  uint64_t written_ = 0;
  std::string buffer_;
  bool committed_ = false;
};

// Convenience: atomically replaces `path` with `contents`.
Status write_file_atomic(const std::string& path, std::span<const uint8_t> contents);
Status write_file_atomic(const std::string& path, const std::string& contents);

// fsync of the directory that holds `path` (after a rename or create).
Status sync_parent_dir(const std::string& path);

bool file_exists(const std::string& path);

}  // namespace mnemo
