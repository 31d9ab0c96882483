#include "ltm/ann/spann_meta.h"

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

class Reader {
 public:
  Reader(const std::string& b, size_t end) : b_(b), end_(end) {}
  template <typename T>
  bool get(T* v) {
    if (pos_ + sizeof(T) > end_) return false;
    std::memcpy(v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  size_t pos() const { return pos_; }
  size_t left() const { return end_ - pos_; }

 private:
  const std::string& b_;
  size_t end_;
  size_t pos_ = 0;
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
}

}  // namespace

Status write_meta(const std::string& path, const Meta& meta) {
  Writer w;
  put_header(w, meta.h);
  w.out.reserve(w.out.size() + meta.lists.size() * 24 + meta.ids.size() * 16 + 4);
  for (const ListRecord& l : meta.lists) {
    w.put(l.page);
    w.put(l.pages);
    w.put(l.count);
    w.put(l.crc);
    w.put(l.flags);
  }
  for (const IdRecord& r : meta.ids) {
    w.put(r.id);
    w.put(r.version);
    w.put(r.home);
  }
  const uint32_t crc = crc32c(w.out.data(), w.out.size());
  w.put(crc);
  return write_file_atomic(path, w.out);
}

Expected<Meta> read_meta(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(std::string b, read_file(path));
  if (b.size() < 12) return corrupt(path + ": expected a metadata header, found " + std::to_string(b.size()) + " bytes");
  if (std::memcmp(b.data(), kMagic, 8) != 0) return corrupt(path + ": expected magic MNSPMETA, found other bytes");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, b.data() + b.size() - 4, 4);
  if (crc32c(b.data(), b.size() - 4) != stored_crc) return corrupt(path + ": checksum mismatch (file damaged)");
  Reader r(b, b.size() - 4);
  char magic[8];
  for (char& c : magic) r.get(&c);
  Meta m;
  MetaHeader& h = m.h;
  uint32_t version = 0;
  r.get(&version);
  if (version != kSpannFormatVersion) {
    return corrupt(path + ": format version: expected " + std::to_string(kSpannFormatVersion) + ", found " +
                   std::to_string(version));
  }
  StoredParams& p = h.params;
  bool ok = r.get(&h.dim) && r.get(&h.record_bytes) && r.get(&h.version_counter) && r.get(&h.generation) &&
            r.get(&h.applied_seq) && r.get(&h.instance_id) && r.get(&h.n_lists) && r.get(&h.centroids_crc) &&
            r.get(&h.n_ids) && r.get(&h.graph_generation) && r.get(&h.removed_since_compact) &&
            r.get(&p.leaf_size) && r.get(&p.branching) && r.get(&p.replica_limit) && r.get(&p.closure_candidates) &&
            r.get(&p.posting_limit) && r.get(&p.max_probes) && r.get(&p.head_ef) && r.get(&p.degree) &&
            r.get(&p.ef_construction) && r.get(&p.n_pivots) && r.get(&p.closure_epsilon) &&
            r.get(&p.prune_epsilon) && r.get(&p.balance_lambda);
  if (!ok) return corrupt(path + ": header truncated");
  if (h.dim == 0 || h.dim > 65536 || h.record_bytes != 12 + 4 * h.dim) {
    return corrupt(path + ": expected dimension in [1, 65536] and record of 12 + 4*dim bytes, found dimension " +
                   std::to_string(h.dim) + ", record " + std::to_string(h.record_bytes));
  }
  if (p.posting_limit == 0 || p.replica_limit == 0 || p.degree < 4 || p.degree > 255 || p.ef_construction == 0) {
    return corrupt(path + ": parameters out of range");
  }
  if (uint64_t(h.n_lists) * 24 + h.n_ids * 16 != r.left()) {
    return corrupt(path + ": expected " + std::to_string(h.n_lists) + " lists and " + std::to_string(h.n_ids) +
                   " ids (" + std::to_string(uint64_t(h.n_lists) * 24 + h.n_ids * 16) + " bytes), found " +
                   std::to_string(r.left()) + " bytes");
  }
  m.lists.resize(h.n_lists);
  for (ListRecord& l : m.lists) {
    r.get(&l.page);
    r.get(&l.pages);
    r.get(&l.count);
    r.get(&l.crc);
    r.get(&l.flags);
    if ((l.flags & ~kListAlive) != 0) return corrupt(path + ": list flags out of range");
    if (uint64_t(l.count) * h.record_bytes > uint64_t(l.pages) * kPageBytes) {
      return corrupt(path + ": a list holds more records than its extent has room for");
    }
    if (l.pages != 0 && l.page == 0) return corrupt(path + ": an extent overlaps the file header");
    if (l.pages > (1u << 20)) return corrupt(path + ": an extent is longer than 4 GiB");
  }
  m.ids.resize(h.n_ids);
  for (IdRecord& id : m.ids) {
    r.get(&id.id);
    r.get(&id.version);
    r.get(&id.home);
    if (id.version == 0 || id.home >= h.n_lists || !(m.lists[id.home].flags & kListAlive) ||
        id.id == UINT64_MAX) {
      return corrupt(path + ": id " + std::to_string(id.id) + " has no valid version or home list");
    }
  }
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
