#include "ltm/ann/spann_index.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <dirent.h>
#include <random>

#include "base/check.h"
#include "base/file.h"
#include "base/log.h"
#include "ltm/ann/crc32c.h"
#include "ltm/ann/distance.h"
#include "ltm/ann/spann_internal.h"

namespace mnemo::ltm::ann {
namespace {

constexpr char kCentMagic[8] = {'M', 'N', 'S', 'P', 'C', 'E', 'N', 'T'};
constexpr uint64_t kCentHeader = 64;

std::string errno_text() { return std::strerror(errno); }

std::string graph_name(uint64_t gen) { return "graph-" + std::to_string(gen) + ".bin"; }

// Fills the automatic sizes (leaf_size, posting_limit = 0) for vectors of `dim` floats.
SpannParams resolve(int dim, SpannParams p) {
  const size_t rec = kRecordHeader + 4 * size_t(dim > 0 ? dim : 1);
  if (p.leaf_size == 0) p.leaf_size = std::clamp<size_t>(p.target_list_bytes / rec, 8, 4096);
  if (p.posting_limit == 0) p.posting_limit = int(std::min<size_t>(3 * p.leaf_size, 1 << 16));
  return p;
}

Status check_params(int dim, const SpannParams& p) {
  if (dim <= 0 || dim > 65536) return invalid_argument("dim: expected 1..65536, found " + std::to_string(dim));
  if (p.leaf_size < 1) return invalid_argument("leaf_size: expected >= 1");
  if (p.kmeans_branching < 2) return invalid_argument("kmeans_branching: expected >= 2");
  if (p.replica_limit < 1 || p.replica_limit > 64) return invalid_argument("replica_limit: expected 1..64");
  if (p.posting_limit < 4) return invalid_argument("posting_limit: expected >= 4");
  if (p.closure_candidates < 1) return invalid_argument("closure_candidates: expected >= 1");
  if (p.max_probes < 1) return invalid_argument("max_probes: expected >= 1");
  if (!(p.closure_epsilon >= 0) || !(p.prune_epsilon >= 0)) return invalid_argument("epsilons: expected >= 0");
  if (p.head.degree < 4 || p.head.degree > 255) return invalid_argument("head.degree: expected 4..255");
  return Status::ok();
}

Status make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return io_error(dir + ": cannot create directory: " + errno_text());
  return Status::ok();
}

StoredParams to_stored(const SpannParams& p) {
  StoredParams s;
  s.leaf_size = uint32_t(p.leaf_size);
  s.branching = uint32_t(p.kmeans_branching);
  s.replica_limit = uint32_t(p.replica_limit);
  s.closure_candidates = uint32_t(p.closure_candidates);
  s.posting_limit = uint32_t(p.posting_limit);
  s.max_probes = uint32_t(p.max_probes);
  s.head_ef = uint32_t(p.head_ef);
  s.degree = uint32_t(p.head.degree);
  s.ef_construction = uint32_t(p.head.ef_construction);
  s.n_pivots = uint32_t(p.head.n_pivots);
  s.closure_epsilon = p.closure_epsilon;
  s.prune_epsilon = p.prune_epsilon;
  s.balance_lambda = p.balance_lambda;
  s.rng_factor = p.rng_factor;
  return s;
}

}  // namespace

SpannIndex::SpannIndex(std::string dir, int dim, const SpannParams& params)
    : dir_(std::move(dir)), dim_(dim), params_(params), rec_bytes_(uint32_t(kRecordHeader + 4 * size_t(dim))),
      head_(dim, params.head) {}

SpannIndex::~SpannIndex() {
  scratch_pool_.clear();
  if (cent_fd_ >= 0) ::close(cent_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status SpannIndex::lock_dir() {
  const std::string path = dir_ + "/LOCK";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return io_error(path + ": cannot open: " + errno_text());
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return io_error(dir_ + ": expected an index no other process has open, found it locked (" + errno_text() + ")");
  }
  return Status::ok();
}

Status SpannIndex::open_files(bool create) {
  PostingFileHeader ph{uint32_t(dim_), rec_bytes_, instance_id_};
  const std::string ppath = dir_ + "/postings.dat";
  const std::string cpath = dir_ + "/centroids.f32";
  if (create) {
    MNEMO_ASSIGN_OR_RETURN(postings_, PostingFile::create(ppath, ph, params_.direct_io));
    cent_fd_ = ::open(cpath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (cent_fd_ < 0) return io_error(cpath + ": cannot create: " + errno_text());
    uint8_t h[kCentHeader] = {};
    std::memcpy(h, kCentMagic, 8);
    const uint32_t d = uint32_t(dim_);
    std::memcpy(h + 8, &d, 4);
    std::memcpy(h + 16, &instance_id_, 8);
    const uint32_t crc = crc32c(h, 24);
    std::memcpy(h + 24, &crc, 4);
    if (::pwrite(cent_fd_, h, kCentHeader, 0) != ssize_t(kCentHeader)) {
      return io_error(cpath + ": cannot write header: " + errno_text());
    }
    alloc_.reset(1);
  } else {
    MNEMO_ASSIGN_OR_RETURN(postings_, PostingFile::open(ppath, ph, params_.direct_io));
    cent_fd_ = ::open(cpath.c_str(), O_RDWR | O_CLOEXEC);
    if (cent_fd_ < 0) {
      if (errno == ENOENT) return corrupt(cpath + ": expected the centroids file, found none");
      return io_error(cpath + ": cannot open: " + errno_text());
    }
  }
  return Status::ok();
}

Expected<std::unique_ptr<SpannIndex>> SpannIndex::create(const std::string& dir, int dim, const SpannParams& given) {
  const SpannParams params = resolve(dim, given);
  MNEMO_RETURN_IF_ERROR(check_params(dim, params));
  MNEMO_RETURN_IF_ERROR(make_dir(dir));
  std::unique_ptr<SpannIndex> index(new SpannIndex(dir, dim, params));
  MNEMO_RETURN_IF_ERROR(index->lock_dir());
  if (file_exists(dir + "/spann.meta")) return invalid_argument(dir + ": expected no index, found spann.meta");
  std::random_device rd;
  index->instance_id_ = (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(::getpid());
  MNEMO_RETURN_IF_ERROR(index->open_files(true));
  MNEMO_RETURN_IF_ERROR(index->commit());
  return index;
}

Status SpannIndex::destroy(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno == ENOENT ? Status::ok() : io_error(dir + ": cannot list: " + errno_text());
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "spann.meta" || n == "postings.dat" || n == "centroids.f32" || n == "LOCK" ||
        (n.rfind("graph-", 0) == 0) || n.find(".tmp-") != std::string::npos) {
      names.push_back(n);
    }
  }
  ::closedir(d);
  // The metadata first: a crash part-way leaves no index rather than a broken one.
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return (a == "spann.meta") > (b == "spann.meta");
  });
  for (const std::string& n : names) {
    if (::unlink((dir + "/" + n).c_str()) != 0 && errno != ENOENT) {
      return io_error(dir + "/" + n + ": cannot remove: " + errno_text());
    }
  }
  return Status::ok();
}

Status SpannIndex::load_centroids(const Meta& meta) {
  const std::string cpath = dir_ + "/centroids.f32";
  uint8_t h[kCentHeader];
  if (::pread(cent_fd_, h, kCentHeader, 0) != ssize_t(kCentHeader)) {
    return corrupt(cpath + ": expected a 64-byte header, found a shorter file");
  }
  uint32_t d, crc;
  uint64_t inst;
  std::memcpy(&d, h + 8, 4);
  std::memcpy(&inst, h + 16, 8);
  std::memcpy(&crc, h + 24, 4);
  if (std::memcmp(h, kCentMagic, 8) != 0 || crc32c(h, 24) != crc) return corrupt(cpath + ": header damaged");
  if (d != uint32_t(dim_) || inst != instance_id_) {
    return corrupt(cpath + ": expected dimension " + std::to_string(dim_) + " and the metadata's instance id");
  }
  const uint64_t n = meta.h.n_lists;
  const uint64_t bytes = n * uint64_t(dim_) * 4;
  struct stat st;
  if (fstat(cent_fd_, &st) != 0) return io_error(cpath + ": cannot stat: " + errno_text());
  if (uint64_t(st.st_size) < kCentHeader + bytes) {
    return corrupt(cpath + ": expected " + std::to_string(kCentHeader + bytes) + " bytes, found " +
                   std::to_string(st.st_size) + " (file truncated)");
  }
  std::vector<float> c(n * size_t(dim_));
  size_t done = 0;
  while (done < bytes) {
    ssize_t r = ::pread(cent_fd_, reinterpret_cast<uint8_t*>(c.data()) + done, bytes - done, off_t(kCentHeader + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return io_error(cpath + ": read failed: " + errno_text());
    done += size_t(r);
  }
  if (crc32c(c.data(), bytes) != meta.h.centroids_crc) return corrupt(cpath + ": checksum mismatch (file damaged)");
  // Drop centroids appended after the last commit (a crash before it).
  if (uint64_t(st.st_size) > kCentHeader + bytes && ::ftruncate(cent_fd_, off_t(kCentHeader + bytes)) != 0) {
    return io_error(cpath + ": cannot truncate: " + errno_text());
  }
  std::vector<uint8_t> alive(n);
  for (uint64_t i = 0; i < n; ++i) alive[i] = (meta.lists[i].flags & kListAlive) != 0 ? 1 : 0;
  head_.load(std::move(c), std::move(alive));
  centroids_on_disk_ = uint32_t(n);
  return Status::ok();
}

Expected<std::unique_ptr<SpannIndex>> SpannIndex::open(const std::string& dir, const SpannOpenOptions& opts) {
  const std::string mpath = dir + "/spann.meta";
  if (!file_exists(mpath)) return not_found(mpath + ": no index here (no such file)");
  // Lock before reading so that a concurrent writer cannot commit under us.
  SpannParams p;
  p.direct_io = opts.direct_io;
  p.verify_checksums = opts.verify_checksums;
  p.pending_budget_bytes = opts.pending_budget_bytes;
  std::unique_ptr<SpannIndex> probe(new SpannIndex(dir, 1, p));
  MNEMO_RETURN_IF_ERROR(probe->lock_dir());
  IdMap ids;
  MNEMO_ASSIGN_OR_RETURN(Meta meta, read_meta(mpath, [&ids](const IdRecord& r) -> Status {
                           if (ids.find(r.id) != nullptr) return corrupt("id " + std::to_string(r.id) + " appears twice");
                           ids.put(r.id, IdEntry{r.version, r.home});
                           return Status::ok();
                         }));
  const StoredParams& sp = meta.h.params;
  p.leaf_size = sp.leaf_size;
  p.kmeans_branching = int(sp.branching);
  p.replica_limit = int(sp.replica_limit);
  p.closure_candidates = int(sp.closure_candidates);
  p.posting_limit = int(sp.posting_limit);
  p.closure_epsilon = sp.closure_epsilon;
  p.balance_lambda = sp.balance_lambda;
  p.rng_factor = sp.rng_factor;
  p.head.degree = int(sp.degree);
  p.head.ef_construction = int(sp.ef_construction);
  p.head.n_pivots = int(sp.n_pivots);
  p.max_probes = opts.max_probes > 0 ? opts.max_probes : int(sp.max_probes);
  p.prune_epsilon = opts.prune_epsilon > 0 ? opts.prune_epsilon : sp.prune_epsilon;
  p.head_ef = opts.head_ef > 0 ? opts.head_ef : int(sp.head_ef);
  MNEMO_RETURN_IF_ERROR(check_params(int(meta.h.dim), p).with_context(mpath));
  std::unique_ptr<SpannIndex> index(new SpannIndex(dir, int(meta.h.dim), p));
  index->lock_fd_ = probe->lock_fd_;
  probe->lock_fd_ = -1;
  index->instance_id_ = meta.h.instance_id;
  index->applied_seq_ = meta.h.applied_seq;
  index->generation_ = meta.h.generation;
  index->graph_generation_ = meta.h.graph_generation;
  index->version_counter_ = meta.h.version_counter;
  index->removed_since_compact_ = meta.h.removed_since_compact;
  MNEMO_RETURN_IF_ERROR(index->open_files(false));
  MNEMO_RETURN_IF_ERROR(check_extents(meta, index->postings_->file_pages(), index->postings_->path()));
  MNEMO_RETURN_IF_ERROR(index->load_centroids(meta));
  std::vector<Extent> used;
  index->lists_.resize(meta.lists.size());
  for (size_t i = 0; i < meta.lists.size(); ++i) {
    const ListRecord& r = meta.lists[i];
    ListInfo& l = index->lists_[i];
    l.page = r.page;
    l.pages = r.pages;
    l.count = r.count;
    l.crc = r.crc;
    l.alive = (r.flags & kListAlive) != 0;
    index->n_records_ += r.count;
    if (r.pages != 0) used.push_back(Extent{r.page, r.pages});
  }
  index->alloc_.rebuild(1, std::move(used));
  index->ids_ = std::move(ids);
  // The head graph is derived data: rebuilt when its file is missing or damaged.
  bool graph_ok = false;
  if (index->graph_generation_ != 0) {
    const std::string gpath = dir + "/" + graph_name(index->graph_generation_);
    Status s = index->head_.read_graph(gpath);
    graph_ok = s.is_ok();
    if (!graph_ok) MNEMO_LOG_WARN("%s; rebuilding the head graph", s.message().c_str());
  }
  if (!graph_ok) {
    index->head_.rebuild(nullptr);
    index->graph_dirty_ = true;
  }
  // Leftovers of an interrupted flush: other graph generations and temporaries.
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if ((n.rfind("graph-", 0) == 0 && n != graph_name(index->graph_generation_)) ||
          n.find(".tmp-") != std::string::npos) {
        stale.push_back(n);
      }
    }
    ::closedir(d);
    for (const std::string& n : stale) ::unlink((dir + "/" + n).c_str());
  }
  return index;
}

// ---- helpers -------------------------------------------------------------------------------

std::unique_ptr<SpannIndex::Scratch> SpannIndex::take_scratch() const {
  std::lock_guard<std::mutex> g(scratch_mu_);
  if (scratch_pool_.empty()) return std::make_unique<Scratch>(postings_.get());
  auto s = std::move(scratch_pool_.back());
  scratch_pool_.pop_back();
  return s;
}

void SpannIndex::give_scratch(std::unique_ptr<Scratch> s) const {
  std::lock_guard<std::mutex> g(scratch_mu_);
  scratch_pool_.push_back(std::move(s));
}

uint32_t SpannIndex::next_version() {
  if (++version_counter_ == 0) version_counter_ = 1;
  return version_counter_;
}

bool SpannIndex::live(uint64_t id, uint32_t version) const {
  const IdEntry* e = ids_.find(id);
  return e != nullptr && e->version == version;
}

size_t SpannIndex::list_size(uint32_t l) const {
  auto it = pending_.find(l);
  return lists_[l].count + (it == pending_.end() ? 0 : it->second.size() / rec_bytes_);
}

void SpannIndex::assign_closure(const float* x, std::vector<uint32_t>* out, Scratch* s, uint32_t near) const {
  out->clear();
  const int want = params_.closure_candidates;
  if (near != UINT32_MAX) {
    head_.search_from(x, near, size_t(want), std::max(params_.head_ef, want), &s->head, &s->cands);
  } else {
    head_.search(x, size_t(want), std::max(params_.head_ef, want), &s->head, &s->cands);
  }
  if (s->cands.empty()) return;
  const float limit = (1.0f + params_.closure_epsilon) * s->cands[0].first;
  for (const auto& [d, j] : s->cands) {
    if (out->size() >= size_t(params_.replica_limit) || d > limit) break;
    bool keep = true;
    // RNG rule (SPANN 3.2): skip c_j when a chosen c_i is closer to it than x is.
    for (uint32_t i : *out) {
      if (params_.rng_factor * l2_sq(head_.vec(i), head_.vec(j), size_t(dim_)) < d) {
        keep = false;
        break;
      }
    }
    if (keep) out->push_back(j);
  }
}

uint32_t SpannIndex::new_list(const float* centroid) {
  const uint32_t id = head_.add(centroid);
  MNEMO_CHECK(id == lists_.size());
  ListInfo l;
  l.alive = true;
  lists_.push_back(l);
  graph_dirty_ = true;
  return id;
}

void SpannIndex::append_record(uint32_t list, uint64_t id, uint32_t version, const float* vec) {
  std::vector<uint8_t>& p = pending_[list];
  const size_t off = p.size();
  p.resize(off + rec_bytes_);
  put_record(p.data() + off, id, version, vec, dim_);
  pending_bytes_ += rec_bytes_;
  ++n_records_;
}

Expected<size_t> SpannIndex::load_list(uint32_t l, AlignedBuffer* buf, bool verify) const {
  const ListInfo& L = lists_[l];
  auto it = pending_.find(l);
  const size_t pend = it == pending_.end() ? 0 : it->second.size();
  const uint64_t disk_bytes = uint64_t(L.count) * rec_bytes_;
  const uint32_t pages = pages_for(disk_bytes);
  buf->resize(size_t(pages) * kPageBytes + pend + kPageBytes);
  if (pages > 0) {
    MNEMO_RETURN_IF_ERROR(postings_->read(L.extent(), pages, buf->data()));
    if (verify && crc32c(buf->data(), disk_bytes) != L.crc) {
      return corrupt(postings_->path() + ": posting list " + std::to_string(l) + " at page " +
                     std::to_string(L.page) + ": checksum mismatch (file damaged)");
    }
  }
  if (pend > 0) std::memcpy(buf->data() + disk_bytes, it->second.data(), pend);
  return size_t(L.count) + pend / rec_bytes_;
}

void SpannIndex::retire_extent(const Extent& e) {
  if (e.empty()) return;
  if (fresh_extents_.erase(e.page) != 0) {
    alloc_.free(e);
  } else {
    free_after_commit_.push_back(e);
  }
}

Status SpannIndex::write_list(uint32_t l, bool gc) {
  ListInfo& L = lists_[l];
  auto it = pending_.find(l);
  const size_t pend_bytes = it == pending_.end() ? 0 : it->second.size();
  if (pend_bytes == 0 && !gc) return Status::ok();
  const uint64_t old_bytes = uint64_t(L.count) * rec_bytes_;
  const uint64_t new_bytes = old_bytes + pend_bytes;
  if (!gc && L.alive && new_bytes <= uint64_t(L.pages) * kPageBytes) {
    // Append in place past the committed records: the pages rewritten keep those bytes unchanged.
    const uint64_t first = old_bytes / kPageBytes;
    const uint64_t off = old_bytes % kPageBytes;
    const uint64_t end = pages_for(new_bytes);
    wbuf_.resize((end - first) * kPageBytes);
    if (off > 0) MNEMO_RETURN_IF_ERROR(postings_->read(Extent{L.page + first, 1}, 1, wbuf_.data()));
    std::memcpy(wbuf_.data() + off, it->second.data(), pend_bytes);
    std::memset(wbuf_.data() + off + pend_bytes, 0, (end - first) * kPageBytes - off - pend_bytes);
    MNEMO_RETURN_IF_ERROR(postings_->write(Extent{L.page + first, uint32_t(end - first)}, wbuf_.data()));
    L.crc = crc32c_extend(L.crc, it->second.data(), pend_bytes);
    L.count += uint32_t(pend_bytes / rec_bytes_);
  } else {
    // Relocate: read, drop stale entries, write a new extent with some room to grow.
    MNEMO_ASSIGN_OR_RETURN(size_t n, load_list(l, &rbuf_, params_.verify_checksums));
    const uint8_t* src = rbuf_.data();
    wbuf_.resize(size_t(n) * rec_bytes_ + kPageBytes);
    size_t kept = 0;
    if (L.alive) {
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* r = src + i * rec_bytes_;
        if (!live(record_id(r), record_version(r))) continue;
        std::memcpy(wbuf_.data() + kept * rec_bytes_, r, rec_bytes_);
        ++kept;
      }
    }
    n_records_ -= n - kept;
    const uint64_t bytes = uint64_t(kept) * rec_bytes_;
    retire_extent(L.extent());
    L.page = 0;
    L.pages = 0;
    L.count = 0;
    L.crc = 0;
    if (kept > 0) {
      const uint32_t used = pages_for(bytes);
      const uint32_t cap = pend_bytes > 0 ? used + std::max<uint32_t>(1, used / 4) : used;
      std::memset(wbuf_.data() + bytes, 0, size_t(used) * kPageBytes - bytes);
      const Extent e = alloc_.alloc(cap);
      fresh_extents_.insert(e.page);
      MNEMO_RETURN_IF_ERROR(postings_->write(Extent{e.page, used}, wbuf_.data()));
      L.page = e.page;
      L.pages = e.pages;
      L.count = uint32_t(kept);
      L.crc = crc32c(wbuf_.data(), bytes);
    }
  }
  if (it != pending_.end()) {
    pending_bytes_ -= pend_bytes;
    pending_.erase(it);
  }
  meta_dirty_ = true;
  return Status::ok();
}

Status SpannIndex::write_all_pending() {
  std::vector<uint32_t> dirty;
  dirty.reserve(pending_.size());
  for (const auto& [l, v] : pending_) dirty.push_back(l);
  std::sort(dirty.begin(), dirty.end());
  for (uint32_t l : dirty) MNEMO_RETURN_IF_ERROR(write_list(l, false));
  return Status::ok();
}

// ---- updates -------------------------------------------------------------------------------

Status SpannIndex::add(uint64_t id, std::span<const float> vec, uint64_t seq) {
  if (vec.size() != size_t(dim_)) {
    return invalid_argument("vector: expected dimension " + std::to_string(dim_) + ", found " + std::to_string(vec.size()));
  }
  if (id == UINT64_MAX) return invalid_argument("id: expected < 2^64-1, found 2^64-1 (reserved)");
  for (float v : vec) {
    if (!std::isfinite(v)) return invalid_argument("vector: expected finite values, found NaN or infinity");
  }
  std::unique_lock lock(mu_);
  auto s = take_scratch();
  if (head_.n_alive() == 0) new_list(vec.data());
  const uint32_t version = next_version();
  std::vector<uint32_t> lists;
  assign_closure(vec.data(), &lists, s.get());
  MNEMO_CHECK(!lists.empty());
  for (uint32_t l : lists) append_record(l, id, version, vec.data());
  ids_.put(id, IdEntry{version, lists[0]});
  std::vector<uint32_t> queue;
  for (uint32_t l : lists) {
    if (list_size(l) > size_t(params_.posting_limit)) queue.push_back(l);
  }
  give_scratch(std::move(s));
  if (seq > applied_seq_) applied_seq_ = seq;
  meta_dirty_ = true;
  MNEMO_RETURN_IF_ERROR(process_splits(&queue));
  if (pending_bytes_ > params_.pending_budget_bytes) MNEMO_RETURN_IF_ERROR(write_all_pending());
  return Status::ok();
}

Status SpannIndex::remove(uint64_t id, uint64_t seq) {
  std::unique_lock lock(mu_);
  if (ids_.erase(id)) ++removed_since_compact_;
  if (seq > applied_seq_) applied_seq_ = seq;
  meta_dirty_ = true;
  return Status::ok();
}

Status SpannIndex::compact() {
  std::unique_lock lock(mu_);
  MNEMO_RETURN_IF_ERROR(write_all_pending());
  for (uint32_t l = 0; l < lists_.size(); ++l) {
    ListInfo& L = lists_[l];
    if (!L.alive || L.count == 0) continue;
    MNEMO_ASSIGN_OR_RETURN(size_t n, load_list(l, &rbuf_, params_.verify_checksums));
    size_t n_live = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* r = rbuf_.data() + i * rec_bytes_;
      if (live(record_id(r), record_version(r))) ++n_live;
    }
    if (n_live == n) continue;
    MNEMO_RETURN_IF_ERROR(write_list(l, true));
    if (L.count == 0) {
      // Empty: no live vector has it as home (a home always holds its vector's live entry).
      L.alive = false;
      head_.kill(l);
    }
  }
  removed_since_compact_ = 0;
  meta_dirty_ = true;
  return Status::ok();
}

// ---- durability ----------------------------------------------------------------------------

Status SpannIndex::write_centroids() {
  const uint32_t n = uint32_t(lists_.size());
  if (centroids_on_disk_ < n) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(head_.vec(centroids_on_disk_));
    const size_t bytes = size_t(n - centroids_on_disk_) * size_t(dim_) * 4;
    const uint64_t off = kCentHeader + uint64_t(centroids_on_disk_) * uint64_t(dim_) * 4;
    size_t done = 0;
    while (done < bytes) {
      ssize_t w = ::pwrite(cent_fd_, p + done, bytes - done, off_t(off + done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return io_error(dir_ + "/centroids.f32: write failed: " + errno_text());
      done += size_t(w);
    }
  }
  if (::fdatasync(cent_fd_) != 0) return io_error(dir_ + "/centroids.f32: fdatasync failed: " + errno_text());
  centroids_on_disk_ = n;
  return Status::ok();
}

Status SpannIndex::commit() {
  MNEMO_RETURN_IF_ERROR(write_all_pending());
  MNEMO_RETURN_IF_ERROR(postings_->sync());
  MNEMO_RETURN_IF_ERROR(write_centroids());
  const uint64_t gen = generation_ + 1;
  uint64_t graph_gen = graph_generation_;
  if (graph_dirty_ || graph_gen == 0) {
    graph_gen = gen;
    MNEMO_RETURN_IF_ERROR(head_.write_graph(dir_ + "/" + graph_name(graph_gen)));
  }
  Meta m;
  MetaHeader& h = m.h;
  h.generation = gen;
  h.applied_seq = applied_seq_;
  h.instance_id = instance_id_;
  h.dim = uint32_t(dim_);
  h.record_bytes = rec_bytes_;
  h.version_counter = version_counter_;
  h.n_lists = uint32_t(lists_.size());
  h.n_ids = ids_.size();
  h.graph_generation = graph_gen;
  h.centroids_crc = crc32c(head_.centroids().data(), lists_.size() * size_t(dim_) * 4);
  h.removed_since_compact = removed_since_compact_;
  h.params = to_stored(params_);
  m.lists.resize(lists_.size());
  for (size_t i = 0; i < lists_.size(); ++i) {
    const ListInfo& l = lists_[i];
    m.lists[i] = ListRecord{l.page, l.pages, l.count, l.crc, l.alive ? kListAlive : 0u};
  }
  MNEMO_RETURN_IF_ERROR(write_meta(dir_ + "/spann.meta", m, [this](const IdSink& sink) -> Status {
    Status st;
    ids_.for_each_while([&](uint64_t id, const IdEntry& e) {
      st = sink(IdRecord{id, e.version, e.home});
      return st.is_ok();
    });
    return st;
  }));
  // Committed: what the old metadata referenced and the new one does not is free now.
  const uint64_t old_graph = graph_generation_;
  generation_ = gen;
  graph_generation_ = graph_gen;
  graph_dirty_ = false;
  meta_dirty_ = false;
  for (const Extent& e : free_after_commit_) alloc_.free(e);
  free_after_commit_.clear();
  fresh_extents_.clear();
  if (old_graph != 0 && old_graph != graph_gen) ::unlink((dir_ + "/" + graph_name(old_graph)).c_str());
  return Status::ok();
}

Status SpannIndex::flush() {
  std::unique_lock lock(mu_);
  if (!meta_dirty_ && !graph_dirty_ && pending_.empty()) return Status::ok();
  return commit();
}

uint64_t SpannIndex::applied_seq() const {
  std::shared_lock lock(mu_);
  return applied_seq_;
}

bool SpannIndex::contains(uint64_t id) const {
  std::shared_lock lock(mu_);
  return ids_.find(id) != nullptr;
}

Status SpannIndex::verify() {
  std::shared_lock lock(mu_);
  AlignedBuffer buf;
  for (uint32_t l = 0; l < lists_.size(); ++l) {
    if (!lists_[l].alive || lists_[l].count == 0) continue;
    MNEMO_ASSIGN_OR_RETURN(size_t n, load_list(l, &buf, true));
    (void)n;
  }
  return Status::ok();
}

IndexStats SpannIndex::stats() const {
  std::shared_lock lock(mu_);
  IndexStats s;
  s.n_vectors = ids_.size();
  uint64_t scratch_bytes = 0;
  {
    std::lock_guard<std::mutex> g(scratch_mu_);
    for (const auto& sc : scratch_pool_) scratch_bytes += sc->io.size() + sc->head.visited.capacity() * 4;
  }
  s.ram_bytes = head_.ram_bytes() + lists_.capacity() * sizeof(ListInfo) + ids_.ram_bytes() + pending_bytes_ +
                pending_.size() * 64 + wbuf_.size() + rbuf_.size() + scratch_bytes;
  struct stat st;
  uint64_t disk = 0;
  for (const char* f : {"/postings.dat", "/centroids.f32", "/spann.meta"}) {
    if (::stat((dir_ + f).c_str(), &st) == 0) disk += uint64_t(st.st_size);
  }
  if (::stat((dir_ + "/" + graph_name(graph_generation_)).c_str(), &st) == 0) disk += uint64_t(st.st_size);
  s.disk_bytes = disk;
  s.reads_4k_last_query = last_reads_.load(std::memory_order_relaxed);
  s.vectors_scanned_last_query = last_scanned_.load(std::memory_order_relaxed);
  return s;
}

SpannStats SpannIndex::spann_stats() const {
  std::shared_lock lock(mu_);
  SpannStats s;
  s.n_lists = head_.n_alive();
  s.n_records = n_records_;
  for (uint32_t l = 0; l < lists_.size(); ++l) {
    if (lists_[l].alive) s.max_list_records = std::max<uint64_t>(s.max_list_records, list_size(l));
  }
  s.splits = splits_;
  s.reassigned = reassigned_;
  s.pending_bytes = pending_bytes_;
  s.lists_probed_last_query = last_probed_.load(std::memory_order_relaxed);
  s.direct_io = postings_->direct_io();
  BatchReader probe(postings_.get());
  s.async_io = probe.async();
  return s;
}

}  // namespace mnemo::ltm::ann
