#include "ltm/vector_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "base/file.h"
#include "base/strings.h"

namespace mnemo::ltm {
namespace {

constexpr char kMagic[8] = {'M', 'N', 'V', 'E', 'C', '0', '0', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 128;
constexpr size_t kNameBytes = 100;
constexpr uint32_t kRecordMagic = 0x52434556;
constexpr uint32_t kOpPut = 1, kOpDelete = 2;
constexpr size_t kRecordHead = 4 + 4 + 8 + 8 + 8;

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string header(int dim, const std::string& space) {
  std::string h(kMagic, 8);
  put_u32(h, kVersion);
  put_u32(h, static_cast<uint32_t>(dim));
  put_u32(h, static_cast<uint32_t>(space.size()));
  std::string name = space.substr(0, kNameBytes);
  name.resize(kNameBytes, '\0');
  h += name;
  put_u32(h, 0);
  put_u32(h, crc32(h.data(), h.size()));
  return h;
}

Status write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_error(path + ": write failed, " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::ok();
}

}  // namespace

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_table();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

Expected<std::unique_ptr<VectorFile>> VectorFile::open(const std::string& path, int dim, const std::string& space,
                                                       std::unordered_map<uint64_t, Entry>* out, LoadStats* stats) {
  MNEMO_ASSIGN_OR_RETURN(std::string data, read_file(path));
  if (space.size() > kNameBytes) return invalid_argument(path + ": embedder name too long");
  if (data.size() < kHeaderBytes || std::memcmp(data.data(), kMagic, 8) != 0)
    return corrupt(path + ": expected a mnemo vector file header, found none");
  const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data());
  if (get_u32(p + kHeaderBytes - 4) != crc32(p, kHeaderBytes - 4))
    return corrupt(path + ": header checksum mismatch");
  if (get_u32(p + 8) != kVersion)
    return corrupt(str_printf("%s: expected vector file version %u, found %u", path.c_str(), kVersion, get_u32(p + 8)));
  if (static_cast<int>(get_u32(p + 12)) != dim)
    return corrupt(str_printf("%s: expected dimension %d, found %u", path.c_str(), dim, get_u32(p + 12)));
  uint32_t name_len = get_u32(p + 16);
  if (name_len > kNameBytes || std::string(data.data() + 20, name_len) != space)
    return corrupt(path + ": vectors were made by another embedder than " + space);
  const size_t put_bytes = kRecordHead + 4 * static_cast<size_t>(dim) + 4;
  const size_t del_bytes = kRecordHead + 4;
  size_t off = kHeaderBytes;
  uint64_t records = 0;
  while (off < data.size()) {
    if (data.size() - off < del_bytes) break;
    const uint8_t* r = p + off;
    if (get_u32(r) != kRecordMagic) break;
    uint32_t op = get_u32(r + 4);
    size_t len = op == kOpPut ? put_bytes : op == kOpDelete ? del_bytes : 0;
    if (len == 0 || data.size() - off < len) break;
    if (get_u32(r + len - 4) != crc32(r, len - 4)) break;
    uint64_t id = get_u64(r + 8);
    if (op == kOpPut) {
      Entry e;
      e.seq = get_u64(r + 16);
      e.corpus_n = get_u64(r + 24);
      e.vec.resize(dim);
      std::memcpy(e.vec.data(), r + kRecordHead, 4 * static_cast<size_t>(dim));
      (*out)[id] = std::move(e);
    } else {
      out->erase(id);
    }
    off += len;
    ++records;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path + ": cannot open for writing, " + std::strerror(errno));
  if (off < data.size()) {
    // Cut the damaged tail so appends follow the last good record.
    if (::ftruncate(fd, static_cast<off_t>(off)) != 0) {
      ::close(fd);
      return io_error(path + ": cannot truncate a damaged tail, " + std::strerror(errno));
    }
  }
  if (::lseek(fd, static_cast<off_t>(off), SEEK_SET) < 0) {
    ::close(fd);
    return io_error(path + ": seek failed, " + std::strerror(errno));
  }
  if (stats) {
    stats->records = records;
    stats->truncated_bytes = data.size() - off;
  }
  std::unique_ptr<VectorFile> f(new VectorFile(path, fd, dim));
  f->records_ = records;
  f->bytes_ = off;
  return f;
}

Expected<std::unique_ptr<VectorFile>> VectorFile::rewrite(const std::string& path, int dim, const std::string& space,
                                                          const std::unordered_map<uint64_t, Entry>& entries) {
  if (space.size() > kNameBytes) return invalid_argument(path + ": embedder name too long");
  MNEMO_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::create(path));
  std::string h = header(dim, space);
  MNEMO_RETURN_IF_ERROR(w->write(h.data(), h.size()));
  std::string rec;
  for (const auto& [id, e] : entries) {
    rec.clear();
    put_u32(rec, kRecordMagic);
    put_u32(rec, kOpPut);
    put_u64(rec, id);
    put_u64(rec, e.seq);
    put_u64(rec, e.corpus_n);
    rec.append(reinterpret_cast<const char*>(e.vec.data()), 4 * e.vec.size());
    put_u32(rec, crc32(rec.data(), rec.size()));
    MNEMO_RETURN_IF_ERROR(w->write(rec.data(), rec.size()));
  }
  MNEMO_RETURN_IF_ERROR(w->commit());
  std::unordered_map<uint64_t, Entry> reread;
  LoadStats st;
  return open(path, dim, space, &reread, &st);
}

VectorFile::~VectorFile() {
  if (fd_ >= 0) {
    (void)write_out();
    ::close(fd_);
  }
}

Status VectorFile::put(uint64_t id, uint64_t seq, uint64_t corpus_n, std::span<const float> vec) {
  if (static_cast<int>(vec.size()) != dim_) return internal_error(path_ + ": vector of the wrong dimension");
  size_t start = buf_.size();
  put_u32(buf_, kRecordMagic);
  put_u32(buf_, kOpPut);
  put_u64(buf_, id);
  put_u64(buf_, seq);
  put_u64(buf_, corpus_n);
  buf_.append(reinterpret_cast<const char*>(vec.data()), 4 * vec.size());
  put_u32(buf_, crc32(buf_.data() + start, buf_.size() - start));
  ++records_;
  if (buf_.size() >= (1u << 20)) return write_out();
  return Status::ok();
}

Status VectorFile::remove(uint64_t id, uint64_t seq) {
  size_t start = buf_.size();
  put_u32(buf_, kRecordMagic);
  put_u32(buf_, kOpDelete);
  put_u64(buf_, id);
  put_u64(buf_, seq);
  put_u64(buf_, 0);
  put_u32(buf_, crc32(buf_.data() + start, buf_.size() - start));
  ++records_;
  return Status::ok();
}

Status VectorFile::write_out() {
  if (buf_.empty()) return Status::ok();
  Status s = write_all(fd_, buf_.data(), buf_.size(), path_);
  if (s.is_ok()) bytes_ += buf_.size();
  buf_.clear();
  return s;
}

Status VectorFile::sync() {
  MNEMO_RETURN_IF_ERROR(write_out());
  if (::fdatasync(fd_) != 0) return io_error(path_ + ": fdatasync failed, " + std::strerror(errno));
  return Status::ok();
}

}  // namespace mnemo::ltm
