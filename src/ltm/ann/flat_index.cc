#include "ltm/ann/flat_index.h"

#include <cstring>
#include <mutex>

#include "base/file.h"
#include "ltm/ann/crc32c.h"
#include "ltm/ann/distance.h"
#include "ltm/ann/topk.h"

namespace mnemo::ltm::ann {
namespace {

constexpr char kMagic[8] = {'M', 'N', 'F', 'L', 'A', 'T', '0', '1'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

}  // namespace

FlatIndex::FlatIndex(int dim) : dim_(dim) {}

Expected<std::unique_ptr<FlatIndex>> FlatIndex::open(const std::string& path, int dim) {
  if (dim <= 0) return invalid_argument(path + ": expected a positive dimension, found " + std::to_string(dim));
  auto index = std::make_unique<FlatIndex>(dim);
  index->path_ = path;
  if (file_exists(path)) MNEMO_RETURN_IF_ERROR(index->load());
  return index;
}

Status FlatIndex::load() {
  MNEMO_ASSIGN_OR_RETURN(std::string bytes, read_file(path_));
  if (bytes.size() < kHeaderBytes + 4) {
    return corrupt(path_ + ": expected at least " + std::to_string(kHeaderBytes + 4) + " bytes, found " +
                   std::to_string(bytes.size()));
  }
  const char* p = bytes.data();
  if (std::memcmp(p, kMagic, 8) != 0) return corrupt(path_ + ": expected magic MNFLAT01, found other bytes");
  uint32_t version, dim, stored_crc;
  uint64_t n, seq;
  std::memcpy(&version, p + 8, 4);
  std::memcpy(&dim, p + 12, 4);
  std::memcpy(&n, p + 16, 8);
  std::memcpy(&seq, p + 24, 8);
  if (version != kFormatVersion) {
    return corrupt(path_ + ": format version: expected " + std::to_string(kFormatVersion) + ", found " +
                   std::to_string(version));
  }
  if (static_cast<int>(dim) != dim_) {
    return corrupt(path_ + ": dimension: expected " + std::to_string(dim_) + ", found " + std::to_string(dim));
  }
  const uint64_t row = 8 + 4ull * dim;
  if (n > (bytes.size() - kHeaderBytes - 4) / row || kHeaderBytes + n * row + 4 != bytes.size()) {
    return corrupt(path_ + ": expected " + std::to_string(n) + " rows of " + std::to_string(row) +
                   " bytes, found a file of " + std::to_string(bytes.size()) + " bytes");
  }
  const size_t body = bytes.size() - 4;
  std::memcpy(&stored_crc, p + body, 4);
  if (crc32c(p, body) != stored_crc) return corrupt(path_ + ": checksum mismatch (file damaged)");
  ids_.resize(n);
  vecs_.resize(n * dim);
  std::memcpy(ids_.data(), p + kHeaderBytes, n * 8);
  std::memcpy(vecs_.data(), p + kHeaderBytes + n * 8, n * 4ull * dim);
  row_of_.clear();
  row_of_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    if (!row_of_.emplace(ids_[i], static_cast<uint32_t>(i)).second) {
      return corrupt(path_ + ": id " + std::to_string(ids_[i]) + " appears twice");
    }
  }
  applied_seq_ = seq;
  disk_bytes_ = bytes.size();
  return Status::ok();
}

Status FlatIndex::add(uint64_t id, std::span<const float> vec, uint64_t seq) {
  if (vec.size() != static_cast<size_t>(dim_)) {
    return invalid_argument("vector: expected dimension " + std::to_string(dim_) + ", found " +
                            std::to_string(vec.size()));
  }
  std::unique_lock lock(mu_);
  auto it = row_of_.find(id);
  if (it != row_of_.end()) {
    std::memcpy(vecs_.data() + static_cast<size_t>(it->second) * dim_, vec.data(), vec.size_bytes());
  } else {
    if (ids_.size() >= UINT32_MAX) return resource_exhausted("flat index: more than 2^32 vectors");
    row_of_.emplace(id, static_cast<uint32_t>(ids_.size()));
    ids_.push_back(id);
    vecs_.insert(vecs_.end(), vec.begin(), vec.end());
  }
  if (seq > applied_seq_) applied_seq_ = seq;
  return Status::ok();
}

Status FlatIndex::remove(uint64_t id, uint64_t seq) {
  std::unique_lock lock(mu_);
  auto it = row_of_.find(id);
  if (it != row_of_.end()) {
    const uint32_t row = it->second;
    const uint32_t last = static_cast<uint32_t>(ids_.size() - 1);
    if (row != last) {
      ids_[row] = ids_[last];
      std::memcpy(vecs_.data() + static_cast<size_t>(row) * dim_, vecs_.data() + static_cast<size_t>(last) * dim_,
                  sizeof(float) * dim_);
      row_of_[ids_[row]] = row;
    }
    ids_.pop_back();
    vecs_.resize(vecs_.size() - dim_);
    row_of_.erase(it);
  }
  if (seq > applied_seq_) applied_seq_ = seq;
  return Status::ok();
}

Expected<std::vector<Neighbor>> FlatIndex::search(std::span<const float> query, const SearchOptions& opts) {
  if (query.size() != static_cast<size_t>(dim_)) {
    return invalid_argument("query: expected dimension " + std::to_string(dim_) + ", found " +
                            std::to_string(query.size()));
  }
  if (opts.k < 0) return invalid_argument("k: expected >= 0, found " + std::to_string(opts.k));
  std::shared_lock lock(mu_);
  TopK top(opts.k);
  constexpr size_t kBlock = 256;
  float dist[kBlock];
  const size_t n = ids_.size();
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t m = std::min(kBlock, n - b);
    l2_sq_batch(query.data(), vecs_.data() + b * dim_, dim_, m, dim_, dist);
    for (size_t j = 0; j < m; ++j) {
      if (!top.would_enter(dist[j])) continue;
      const uint64_t id = ids_[b + j];
      if (opts.filter && !opts.filter(id)) continue;
      top.push(id, dist[j]);
    }
  }
  last_scanned_.store(n, std::memory_order_relaxed);
  return top.take_sorted();
}

Status FlatIndex::flush() {
  std::unique_lock lock(mu_);
  if (path_.empty()) return Status::ok();
  MNEMO_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::create(path_));
  std::string header(kHeaderBytes, '\0');
  const uint32_t version = kFormatVersion, dim = static_cast<uint32_t>(dim_);
  const uint64_t n = ids_.size();
  std::memcpy(header.data(), kMagic, 8);
  std::memcpy(header.data() + 8, &version, 4);
  std::memcpy(header.data() + 12, &dim, 4);
  std::memcpy(header.data() + 16, &n, 8);
  std::memcpy(header.data() + 24, &applied_seq_, 8);
  uint32_t crc = crc32c(header.data(), header.size());
  crc = crc32c_extend(crc, ids_.data(), n * 8);
  crc = crc32c_extend(crc, vecs_.data(), vecs_.size() * sizeof(float));
  MNEMO_RETURN_IF_ERROR(w->write(header.data(), header.size()));
  MNEMO_RETURN_IF_ERROR(w->write(ids_.data(), n * 8));
  MNEMO_RETURN_IF_ERROR(w->write(vecs_.data(), vecs_.size() * sizeof(float)));
  MNEMO_RETURN_IF_ERROR(w->write(&crc, 4));
  disk_bytes_ = w->bytes_written();
  return w->commit();
}

uint64_t FlatIndex::applied_seq() const {
  std::shared_lock lock(mu_);
  return applied_seq_;
}

IndexStats FlatIndex::stats() const {
  std::shared_lock lock(mu_);
  IndexStats s;
  s.n_vectors = ids_.size();
  s.ram_bytes = ids_.capacity() * 8 + vecs_.capacity() * sizeof(float) + row_of_.size() * 32;
  s.disk_bytes = disk_bytes_;
  s.reads_4k_last_query = 0;
  s.vectors_scanned_last_query = last_scanned_.load(std::memory_order_relaxed);
  return s;
}

size_t FlatIndex::size() const {
  std::shared_lock lock(mu_);
  return ids_.size();
}

bool FlatIndex::contains(uint64_t id) const {
  std::shared_lock lock(mu_);
  return row_of_.count(id) != 0;
}

std::vector<float> FlatIndex::get(uint64_t id) const {
  std::shared_lock lock(mu_);
  auto it = row_of_.find(id);
  if (it == row_of_.end()) return {};
  const float* p = vecs_.data() + static_cast<size_t>(it->second) * dim_;
  return std::vector<float>(p, p + dim_);
}

}  // namespace mnemo::ltm::ann
