#include "ltm/ann/spann_meta.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstring>

#include "base/file.h"
#include "ltm/ann/crc32c.h"

namespace mnemo::ltm::ann {
namespace {

constexpr char kMagic[8] = {'M', 'N', 'S', 'P', 'M', 'E', 'T', 'A'};

class Writer {
 public:
  template <typename T>
  void put(const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  std::string out;
};

void put_header(Writer& w, const MetaHeader& h) {
  w.out.append(kMagic, 8);
  w.put(kSpannFormatVersion);
  w.put(h.dim);
  w.put(h.record_bytes);
  w.put(h.version_counter);
  w.put(h.generation);
  w.put(h.applied_seq);
  w.put(h.instance_id);
  w.put(h.n_lists);
  w.put(h.centroids_crc);
  w.put(h.n_ids);
  w.put(h.graph_generation);
  w.put(h.removed_since_compact);
  const StoredParams& p = h.params;
  for (uint32_t v : {p.leaf_size, p.branching, p.replica_limit, p.closure_candidates, p.posting_limit, p.max_probes,
                     p.head_ef, p.degree, p.ef_construction, p.n_pivots}) {
    w.put(v);
  }
  w.put(p.closure_epsilon);
  w.put(p.prune_epsilon);
  w.put(p.balance_lambda);
  w.put(p.rng_factor);
}

}  // namespace

Status write_meta(const std::string& path, const Meta& meta, const std::function<Status(const IdSink&)>& ids) {
  MNEMO_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::create(path));
  Writer head;
  put_header(head, meta.h);
  uint32_t crc = crc32c(head.out.data(), head.out.size());
  MNEMO_RETURN_IF_ERROR(w->write(head.out.data(), head.out.size()));
  Writer chunk;
  auto drain = [&]() -> Status {
    crc = crc32c_extend(crc, chunk.out.data(), chunk.out.size());
    Status s = w->write(chunk.out.data(), chunk.out.size());
    chunk.out.clear();
    return s;
  };
  for (const ListRecord& l : meta.lists) {
    chunk.put(l.page);
    chunk.put(l.pages);
    chunk.put(l.count);
    chunk.put(l.crc);
    chunk.put(l.flags);
    if (chunk.out.size() >= (1u << 16)) MNEMO_RETURN_IF_ERROR(drain());
  }
  uint64_t n_ids = 0;
  MNEMO_RETURN_IF_ERROR(ids([&](const IdRecord& r) -> Status {
    chunk.put(r.id);
    chunk.put(r.version);
    chunk.put(r.home);
    ++n_ids;
    if (chunk.out.size() >= (1u << 16)) return drain();
    return Status::ok();
  }));
  if (n_ids != meta.h.n_ids) return internal_error(path + ": id count changed while writing");
  MNEMO_RETURN_IF_ERROR(drain());
  MNEMO_RETURN_IF_ERROR(w->write(&crc, 4));
  return w->commit();
}

namespace {

// Sequential reads in 1 MiB chunks with a running CRC over everything but the last 4 bytes.
class StreamReader {
 public:
  StreamReader(int fd, uint64_t size) : fd_(fd), size_(size) {}
  bool get(void* dst, size_t n) {
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
      if (pos_ == buf_.size()) {
        if (!fill()) return false;
      }
      const size_t take = std::min(n, buf_.size() - pos_);
      std::memcpy(out, buf_.data() + pos_, take);
      pos_ += take;
      out += take;
      n -= take;
    }
    return true;
  }
  uint32_t crc() const { return crc_; }
  uint64_t consumed() const { return file_off_ - (buf_.size() - pos_); }

 private:
  bool fill() {
    if (file_off_ >= size_) return false;
    const size_t want = size_t(std::min<uint64_t>(1u << 20, size_ - file_off_));
    buf_.resize(want);
    size_t done = 0;
    while (done < want) {
      ssize_t r = ::pread(fd_, buf_.data() + done, want - done, off_t(file_off_ + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      done += size_t(r);
    }
    // CRC covers bytes [0, size - 4).
    const uint64_t crc_end = size_ - 4;
    if (file_off_ < crc_end) crc_ = crc32c_extend(crc_, buf_.data(), size_t(std::min<uint64_t>(want, crc_end - file_off_)));
    file_off_ += want;
    pos_ = 0;
    return true;
  }
  int fd_;
  uint64_t size_;
  uint64_t file_off_ = 0;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
  uint32_t crc_ = 0;
};

}  // namespace

Expected<Meta> read_meta(const std::string& path, const IdSink& on_id) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return not_found(path + ": cannot open: no such file");
    return io_error(path + ": cannot open: " + std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return io_error(path + ": cannot stat: " + std::strerror(errno));
  const uint64_t size = uint64_t(st.st_size);
  if (size < 16) return corrupt(path + ": expected a metadata header, found " + std::to_string(size) + " bytes");
  StreamReader r(fd, size);
  char magic[8];
  r.get(magic, 8);
  if (std::memcmp(magic, kMagic, 8) != 0) return corrupt(path + ": expected magic MNSPMETA, found other bytes");
  Meta m;
  MetaHeader& h = m.h;
  uint32_t version = 0;
  r.get(&version, 4);
  if (version != kSpannFormatVersion) {
    return corrupt(path + ": format version: expected " + std::to_string(kSpannFormatVersion) + ", found " +
                   std::to_string(version));
  }
  StoredParams& p = h.params;
  auto g = [&](auto* v) { return r.get(v, sizeof(*v)); };
  bool ok = g(&h.dim) && g(&h.record_bytes) && g(&h.version_counter) && g(&h.generation) && g(&h.applied_seq) &&
            g(&h.instance_id) && g(&h.n_lists) && g(&h.centroids_crc) && g(&h.n_ids) && g(&h.graph_generation) &&
            g(&h.removed_since_compact) && g(&p.leaf_size) && g(&p.branching) && g(&p.replica_limit) &&
            g(&p.closure_candidates) && g(&p.posting_limit) && g(&p.max_probes) && g(&p.head_ef) && g(&p.degree) &&
            g(&p.ef_construction) && g(&p.n_pivots) && g(&p.closure_epsilon) && g(&p.prune_epsilon) &&
            g(&p.balance_lambda) && g(&p.rng_factor);
  if (!ok) return corrupt(path + ": header truncated");
  const uint64_t body = uint64_t(h.n_lists) * 24 + h.n_ids * 16;
  if (r.consumed() + body + 4 != size) {
    return corrupt(path + ": expected " + std::to_string(h.n_lists) + " lists and " + std::to_string(h.n_ids) +
                   " ids (" + std::to_string(r.consumed() + body + 4) + " bytes), found " + std::to_string(size) +
                   " bytes");
  }
  if (h.dim == 0 || h.dim > 65536 || h.record_bytes != 12 + 4 * h.dim) {
    return corrupt(path + ": expected dimension in [1, 65536] and record of 12 + 4*dim bytes, found dimension " +
                   std::to_string(h.dim) + ", record " + std::to_string(h.record_bytes));
  }
  if (p.posting_limit == 0 || p.replica_limit == 0 || p.degree < 4 || p.degree > 255 || p.ef_construction == 0) {
    return corrupt(path + ": parameters out of range");
  }
  m.lists.resize(h.n_lists);
  for (ListRecord& l : m.lists) {
    g(&l.page);
    g(&l.pages);
    g(&l.count);
    g(&l.crc);
    g(&l.flags);
    if ((l.flags & ~kListAlive) != 0) return corrupt(path + ": list flags out of range");
    if (uint64_t(l.count) * h.record_bytes > uint64_t(l.pages) * kPageBytes) {
      return corrupt(path + ": a list holds more records than its extent has room for");
    }
    if (l.pages != 0 && l.page == 0) return corrupt(path + ": an extent overlaps the file header");
    if (l.pages > (1u << 20)) return corrupt(path + ": an extent is longer than 4 GiB");
  }
  for (uint64_t i = 0; i < h.n_ids; ++i) {
    IdRecord id;
    g(&id.id);
    g(&id.version);
    g(&id.home);
    if (id.version == 0 || id.home >= h.n_lists || !(m.lists[id.home].flags & kListAlive) || id.id == UINT64_MAX) {
      return corrupt(path + ": id " + std::to_string(id.id) + " has no valid version or home list");
    }
    MNEMO_RETURN_IF_ERROR(on_id(id).with_context(path));
  }
  uint32_t stored_crc = 0;
  if (!r.get(&stored_crc, 4)) return corrupt(path + ": truncated");
  if (r.crc() != stored_crc) return corrupt(path + ": checksum mismatch (file damaged)");
  // No two extents may overlap.
  std::vector<std::pair<uint64_t, uint64_t>> ext;
  for (const ListRecord& l : m.lists) {
    if (l.pages != 0) ext.emplace_back(l.page, l.page + l.pages);
  }
  std::sort(ext.begin(), ext.end());
  for (size_t i = 1; i < ext.size(); ++i) {
    if (ext[i].first < ext[i - 1].second) return corrupt(path + ": two posting extents overlap");
  }
  return m;
}

Status check_extents(const Meta& meta, uint64_t file_pages, const std::string& postings_path) {
  for (const ListRecord& l : meta.lists) {
    if (l.pages == 0) continue;
    const uint64_t used = (uint64_t(l.count) * meta.h.record_bytes + kPageBytes - 1) / kPageBytes;
    if (l.page + used > file_pages) {
      return corrupt(postings_path + ": expected at least " + std::to_string(l.page + used) + " pages, found " +
                     std::to_string(file_pages) + " (file truncated)");
    }
  }
  return Status::ok();
}

}  // namespace mnemo::ltm::ann
