#include "formats/kv_session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/check.h"
#include "base/file.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace mnemo {
namespace {

constexpr char kMagic[8] = {'M', 'N', 'E', 'M', 'O', 'K', 'V', 'S'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxString = 4096;
constexpr int64_t kMaxCount = int64_t{1} << 40;

std::string sys_error() { return std::strerror(errno); }

// Serialises the header into bytes (the same bytes are hashed and written).
class Bytes {
 public:
  void u32(uint32_t v) { raw(&v, 4); }
  void i64(int64_t v) { raw(&v, 8); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void raw(const void* p, size_t n) { data_.append(static_cast<const char*>(p), n); }
  const std::string& data() const { return data_; }

 private:
  std::string data_;
};

// Reads header fields from a buffer, failing (not crashing) past its end.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* p, size_t n) : path_(path), p_(p), n_(n) {}
  Status take(void* dst, size_t n, const char* field) {
    if (n > n_ - at_) return corrupt(path_ + ": " + field + ": expected more bytes, the file ends");
    std::memcpy(dst, p_ + at_, n);
    at_ += n;
    return Status::ok();
  }
  Status i64(int64_t* v, const char* field) {
    MNEMO_RETURN_IF_ERROR(take(v, 8, field));
    if (*v < 0 || *v > kMaxCount) {
      return corrupt(str_printf("%s: %s: expected a count in [0, 2^40], found %lld", path_.c_str(), field,
                                static_cast<long long>(*v)));
    }
    return Status::ok();
  }
  Status str(std::string* s, const char* field) {
    uint32_t len = 0;
    MNEMO_RETURN_IF_ERROR(take(&len, 4, field));
    if (len > kMaxString) return corrupt(str_printf("%s: %s: expected a string of at most %u bytes, found %u", path_.c_str(), field, kMaxString, len));
    s->resize(len);
    return take(s->data(), len, field);
  }
  size_t offset() const { return at_; }

 private:
  const std::string& path_;
  const uint8_t* p_;
  size_t n_, at_ = 0;
};

Status check_sizes(const KvSessionHeader& h, const std::string& what) {
  if (h.n_layer < 0 || h.row_bytes_k < 0 || h.row_bytes_v < 0 || h.n_slots < 0 || h.n_pos < h.n_slots ||
      h.score_floats < 0 || h.budget < 0 || (h.layer_bytes() == 0 && h.n_slots > 0)) {
    return invalid_argument(what + ": inconsistent KV session header (counts negative, overflowing, or n_pos < n_slots)");
  }
  return Status::ok();
}

Status pread_all(int fd, void* dst, size_t n, uint64_t offset, const std::string& path) {
  auto* p = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error(path + ": read failed: " + sys_error());
    if (r == 0) return corrupt(path + ": expected more bytes, the file ends");
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return Status::ok();
}

}  // namespace

uint64_t KvSessionHeader::layer_bytes() const {
  uint64_t k = 0, v = 0, total = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(n_slots), static_cast<uint64_t>(row_bytes_k), &k) ||
      __builtin_mul_overflow(static_cast<uint64_t>(n_slots), static_cast<uint64_t>(row_bytes_v), &v) ||
      __builtin_add_overflow(k, v, &total) ||
      __builtin_add_overflow(total, static_cast<uint64_t>(score_floats) * sizeof(float), &total)) {
    return 0;
  }
  return total;
}

static std::string header_bytes(const KvSessionHeader& h) {
  Bytes b;
  b.raw(kMagic, sizeof(kMagic));
  b.u32(kVersion);
  b.str(h.model);
  b.str(h.type_k);
  b.str(h.type_v);
  b.str(h.policy);
  for (int64_t v : {h.budget, h.n_layer, h.row_bytes_k, h.row_bytes_v, h.n_slots, h.n_pos, h.score_floats,
                    static_cast<int64_t>(h.tokens.size())}) {
    b.i64(v);
  }
  b.raw(h.tokens.data(), h.tokens.size() * sizeof(int32_t));
  return b.data();
}

Status save_kv_session(const std::string& path, const KvSessionHeader& h, const KvRowSource& rows) {
  MNEMO_RETURN_IF_ERROR(check_sizes(h, path));
  for (const std::string* s : {&h.model, &h.type_k, &h.type_v, &h.policy}) {
    if (s->size() > kMaxString) return invalid_argument(path + ": KV session header string too long");
  }
  MNEMO_ASSIGN_OR_RETURN(auto writer, AtomicFileWriter::create(path));
  Sha256 sha;
  auto put = [&](const void* p, size_t n) {
    sha.update(p, n);
    return writer->write(p, n);
  };
  const std::string head = header_bytes(h);
  MNEMO_RETURN_IF_ERROR(put(head.data(), head.size()));
  const uint64_t sizes[3] = {static_cast<uint64_t>(h.n_slots * h.row_bytes_k),
                             static_cast<uint64_t>(h.n_slots * h.row_bytes_v),
                             static_cast<uint64_t>(h.score_floats) * sizeof(float)};
  for (int64_t l = 0; l < h.n_layer; ++l) {
    for (KvRegion r : {KvRegion::kKeys, KvRegion::kValues, KvRegion::kScores}) {
      const uint64_t want = sizes[static_cast<int>(r)];
      if (want == 0) continue;
      const std::span<const uint8_t> src = rows(l, r);
      if (src.size() != want) {
        return internal_error(str_printf("%s: layer %lld region %d: the cache gave %zu bytes, the header says %llu",
                                         path.c_str(), static_cast<long long>(l), static_cast<int>(r), src.size(),
                                         static_cast<unsigned long long>(want)));
      }
      MNEMO_RETURN_IF_ERROR(put(src.data(), src.size()));
    }
  }
  const std::string digest = sha.hex_digest();
  MNEMO_RETURN_IF_ERROR(writer->write(digest.data(), digest.size()));
  return writer->commit();
}

Expected<KvSessionReader> KvSessionReader::open(const std::string& path) {
  MNEMO_RETURN_IF_ERROR(check_openable_file(path, "KV session file"));
  KvSessionReader r;
  r.path_ = path;
  r.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r.fd_ < 0) return io_error(path + ": cannot open: " + sys_error());
  struct stat st {};
  if (::fstat(r.fd_, &st) != 0) return io_error(path + ": cannot stat: " + sys_error());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  // The fixed part and strings are small: read at most 64 KiB + the tokens below.
  std::vector<uint8_t> head(static_cast<size_t>(std::min<uint64_t>(size, 4 * kMaxString + 256)));
  MNEMO_RETURN_IF_ERROR(pread_all(r.fd_, head.data(), head.size(), 0, path));
  Cursor c(path, head.data(), head.size());
  char magic[8];
  uint32_t version = 0;
  MNEMO_RETURN_IF_ERROR(c.take(magic, 8, "magic"));
  if (std::memcmp(magic, kMagic, 8) != 0) return corrupt(path + ": expected a mnemo KV session file (magic MNEMOKVS)");
  MNEMO_RETURN_IF_ERROR(c.take(&version, 4, "version"));
  if (version != kVersion) return unsupported(str_printf("%s: KV session version %u, expected %u", path.c_str(), version, kVersion));
  KvSessionHeader& h = r.header_;
  MNEMO_RETURN_IF_ERROR(c.str(&h.model, "model"));
  MNEMO_RETURN_IF_ERROR(c.str(&h.type_k, "type_k"));
  MNEMO_RETURN_IF_ERROR(c.str(&h.type_v, "type_v"));
  MNEMO_RETURN_IF_ERROR(c.str(&h.policy, "policy"));
  int64_t n_tokens = 0;
  MNEMO_RETURN_IF_ERROR(c.i64(&h.budget, "budget"));
  MNEMO_RETURN_IF_ERROR(c.i64(&h.n_layer, "n_layer"));
  MNEMO_RETURN_IF_ERROR(c.i64(&h.row_bytes_k, "row_bytes_k"));
  MNEMO_RETURN_IF_ERROR(c.i64(&h.row_bytes_v, "row_bytes_v"));
  MNEMO_RETURN_IF_ERROR(c.i64(&h.n_slots, "n_slots"));
  MNEMO_RETURN_IF_ERROR(c.i64(&h.n_pos, "n_pos"));
  MNEMO_RETURN_IF_ERROR(c.i64(&h.score_floats, "score_floats"));
  MNEMO_RETURN_IF_ERROR(c.i64(&n_tokens, "n_tokens"));
  MNEMO_RETURN_IF_ERROR(check_sizes(h, path).with_context("header"));
  const uint64_t tokens_offset = c.offset();
  uint64_t rows_bytes = 0, expected = 0;
  if (__builtin_mul_overflow(h.layer_bytes(), static_cast<uint64_t>(h.n_layer), &rows_bytes) ||
      __builtin_add_overflow(tokens_offset + static_cast<uint64_t>(n_tokens) * 4, rows_bytes, &expected) ||
      expected + 64 != size) {
    return corrupt(str_printf("%s: expected %llu bytes for %lld tokens and %lld slots of %lld layers, found %llu",
                              path.c_str(), static_cast<unsigned long long>(expected + 64),
                              static_cast<long long>(n_tokens), static_cast<long long>(h.n_slots),
                              static_cast<long long>(h.n_layer), static_cast<unsigned long long>(size)));
  }
  h.tokens.resize(static_cast<size_t>(n_tokens));
  MNEMO_RETURN_IF_ERROR(pread_all(r.fd_, h.tokens.data(), h.tokens.size() * 4, tokens_offset, path));
  r.rows_offset_ = tokens_offset + static_cast<uint64_t>(n_tokens) * 4;
  // The checksum covers everything before it; checked in 1 MiB reads before any row is used.
  Sha256 sha;
  std::vector<uint8_t> buf(1 << 20);
  for (uint64_t at = 0; at < expected;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), expected - at));
    MNEMO_RETURN_IF_ERROR(pread_all(r.fd_, buf.data(), n, at, path));
    sha.update(buf.data(), n);
    at += n;
  }
  char stored[64];
  MNEMO_RETURN_IF_ERROR(pread_all(r.fd_, stored, 64, expected, path));
  if (sha.hex_digest() != std::string(stored, 64)) return corrupt(path + ": checksum mismatch: the file is damaged");
  return r;
}

Status KvSessionReader::read(int64_t layer, KvRegion region, std::span<uint8_t> dst) const {
  const KvSessionHeader& h = header_;
  MNEMO_CHECK(layer >= 0 && layer < h.n_layer);
  const uint64_t k = static_cast<uint64_t>(h.n_slots * h.row_bytes_k), v = static_cast<uint64_t>(h.n_slots * h.row_bytes_v);
  const uint64_t s = static_cast<uint64_t>(h.score_floats) * sizeof(float);
  const uint64_t base = rows_offset_ + static_cast<uint64_t>(layer) * h.layer_bytes();
  const uint64_t offset = region == KvRegion::kKeys ? base : region == KvRegion::kValues ? base + k : base + k + v;
  const uint64_t want = region == KvRegion::kKeys ? k : region == KvRegion::kValues ? v : s;
  MNEMO_CHECK(dst.size() == want);
  return pread_all(fd_, dst.data(), dst.size(), offset, path_);
}

KvSessionReader::KvSessionReader(KvSessionReader&& o) noexcept
    : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), header_(std::move(o.header_)), rows_offset_(o.rows_offset_) {}

KvSessionReader& KvSessionReader::operator=(KvSessionReader&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    header_ = std::move(o.header_);
    rows_offset_ = o.rows_offset_;
  }
  return *this;
}

KvSessionReader::~KvSessionReader() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace mnemo
