#include "ltm/ann/head_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>

#include "base/check.h"
#include "base/file.h"
#include "ltm/ann/crc32c.h"
#include "ltm/ann/distance.h"

namespace mnemo::ltm::ann {
namespace {

using Cand = std::pair<float, uint32_t>;
constexpr char kGraphMagic[8] = {'M', 'N', 'H', 'G', 'R', 'P', 'H', '1'};

}  // namespace

HeadIndex::HeadIndex(int dim, const HeadIndexParams& params)
    : dim_(dim), params_(params), degree_(params.degree), locks_(new std::mutex[kLockStripes]) {
  MNEMO_CHECK(dim > 0 && params.degree >= 4 && params.degree <= 255 && params.ef_construction >= 1);
}

uint64_t HeadIndex::ram_bytes() const {
  return centroids_.capacity() * sizeof(float) + alive_.capacity() + adj_.capacity() * 4 + pivots_.capacity() * 4 +
         (upper_ ? upper_->ram_bytes() : 0);
}

void HeadIndex::append_unlinked(const float* v, bool alive) {
  centroids_.insert(centroids_.end(), v, v + dim_);
  alive_.push_back(alive ? 1 : 0);
  adj_.resize(adj_.size() + degree_ + 1, 0);
  if (alive) ++n_alive_;
}

void HeadIndex::kill(uint32_t i) {
  if (alive_[i]) {
    alive_[i] = 0;
    --n_alive_;
  }
}

size_t HeadIndex::pivot_target() const {
  return std::max<size_t>(size_t(params_.n_pivots), n_alive_ / uint32_t(std::max(1, params_.pivot_ratio)));
}

void HeadIndex::build_upper() {
  upper_.reset();
  if (pivots_.size() <= size_t(params_.max_scanned_pivots)) return;
  std::vector<float> v(pivots_.size() * size_t(dim_));
  for (size_t i = 0; i < pivots_.size(); ++i) std::memcpy(v.data() + i * dim_, vec(pivots_[i]), sizeof(float) * dim_);
  HeadIndexParams up = params_;
  up.seed = params_.seed * 31 + 1;
  upper_ = std::make_unique<HeadIndex>(dim_, up);
  upper_->build(v.data(), pivots_.size(), nullptr);
}

void HeadIndex::beam(const float* q, int ef, HeadScratch* s, bool locking, uint32_t entry) const {
  const uint32_t n = size();
  if (s->visited.size() < n) s->visited.resize(n + n / 4 + 16, 0);
  if (++s->epoch == 0) {
    std::fill(s->visited.begin(), s->visited.end(), 0);
    s->epoch = 1;
  }
  const uint32_t ep = s->epoch;
  auto& cand = s->cand;  // min-heap
  auto& top = s->top;    // max-heap of live results
  cand.clear();
  top.clear();
  const auto min_cmp = std::greater<Cand>();
  const auto max_cmp = std::less<Cand>();
  auto push_top = [&](float d, uint32_t id) {
    top.emplace_back(d, id);
    std::push_heap(top.begin(), top.end(), max_cmp);
    if (top.size() > size_t(ef)) {
      std::pop_heap(top.begin(), top.end(), max_cmp);
      top.pop_back();
    }
  };
  // Entry: the given node, or every pivot (the nearest few seed the beam).
  std::vector<Cand> piv;
  piv.reserve(pivots_.size());
  if (entry != UINT32_MAX) {
    s->visited[entry] = ep;
    const float d = l2_sq(q, vec(entry), size_t(dim_));
    piv.emplace_back(d, entry);
    if (alive_[entry]) push_top(d, entry);
  }
  auto consider = [&](uint32_t p) {
    if (s->visited[p] == ep) return;
    s->visited[p] = ep;
    float d = l2_sq(q, vec(p), size_t(dim_));
    piv.emplace_back(d, p);
    if (alive_[p]) push_top(d, p);
  };
  if (entry != UINT32_MAX) {
    // Start from the given node only (the caller knows where q is).
  } else if (upper_) {
    // The upper layer's nearest pivots (its own scratch: this one is in use).
    thread_local HeadScratch up_scratch;
    thread_local std::vector<Cand> up_out;
    upper_->search(q, 8, 32, &up_scratch, &up_out);
    for (const Cand& c : up_out) consider(pivots_[c.second]);
    for (size_t i = upper_->size(); i < pivots_.size(); ++i) consider(pivots_[i]);  // added since
  } else {
    for (uint32_t p : pivots_) consider(p);
  }
  const size_t seeds = std::min<size_t>(piv.size(), 8);
  std::partial_sort(piv.begin(), piv.begin() + seeds, piv.end());
  for (size_t i = 0; i < seeds; ++i) {
    cand.push_back(piv[i]);
    std::push_heap(cand.begin(), cand.end(), min_cmp);
  }
  uint32_t nb[256];
  while (!cand.empty()) {
    std::pop_heap(cand.begin(), cand.end(), min_cmp);
    const Cand c = cand.back();
    cand.pop_back();
    if (top.size() >= size_t(ef) && c.first > top.front().first) break;
    uint32_t cnt;
    if (locking) {
      std::lock_guard<std::mutex> g(lock_of(c.second));
      cnt = links(c.second)[0];
      std::memcpy(nb, links(c.second) + 1, cnt * 4);
    } else {
      cnt = links(c.second)[0];
      std::memcpy(nb, links(c.second) + 1, cnt * 4);
    }
    for (uint32_t j = 0; j < cnt; ++j) {
      const uint32_t x = nb[j];
      if (s->visited[x] == ep) continue;
      s->visited[x] = ep;
      const float d = l2_sq(q, vec(x), size_t(dim_));
      if (top.size() < size_t(ef) || d < top.front().first) {
        cand.emplace_back(d, x);
        std::push_heap(cand.begin(), cand.end(), min_cmp);
        if (alive_[x]) push_top(d, x);
      }
    }
  }
  std::sort(top.begin(), top.end());
}

void HeadIndex::select_neighbors(const float* base, std::vector<Cand>& cand, int max_n,
                                 std::vector<uint32_t>* chosen) const {
  (void)base;
  chosen->clear();
  for (const Cand& c : cand) {
    if (chosen->size() >= size_t(max_n)) break;
    bool good = true;
    // RNG rule (relaxed by alpha): drop c when an already chosen neighbour s is much closer to c
    // than the base is. Squared distances, hence alpha^2.
    const float a2 = params_.alpha * params_.alpha;
    for (uint32_t s : *chosen) {
      if (a2 * l2_sq(vec(c.second), vec(s), size_t(dim_)) < c.first) {
        good = false;
        break;
      }
    }
    if (good) chosen->push_back(c.second);
  }
}

void HeadIndex::add_reverse_link(uint32_t n, uint32_t u, bool locking) {
  std::unique_lock<std::mutex> g;
  if (locking) g = std::unique_lock<std::mutex>(lock_of(n));
  uint32_t* l = links(n);
  for (uint32_t j = 0; j < l[0]; ++j) {
    if (l[1 + j] == u) return;
  }
  if (l[0] < uint32_t(degree_)) {
    l[1 + l[0]] = u;
    ++l[0];
    return;
  }
  std::vector<Cand> cand;
  cand.reserve(l[0] + 1);
  for (uint32_t j = 0; j < l[0]; ++j) {
    if (alive_[l[1 + j]]) cand.emplace_back(l2_sq(vec(n), vec(l[1 + j]), size_t(dim_)), l[1 + j]);
  }
  cand.emplace_back(l2_sq(vec(n), vec(u), size_t(dim_)), u);
  std::sort(cand.begin(), cand.end());
  std::vector<uint32_t> chosen;
  select_neighbors(vec(n), cand, degree_, &chosen);
  l[0] = uint32_t(chosen.size());
  std::copy(chosen.begin(), chosen.end(), l + 1);
}

void HeadIndex::link_new_node(uint32_t u, HeadScratch* scratch, bool locking) {
  beam(vec(u), params_.ef_construction, scratch, locking);
  std::vector<Cand> cand;
  cand.reserve(scratch->top.size());
  for (const Cand& c : scratch->top) {
    if (c.second != u) cand.push_back(c);
  }
  std::vector<uint32_t> chosen;
  select_neighbors(vec(u), cand, degree_, &chosen);
  {
    std::unique_lock<std::mutex> g;
    if (locking) g = std::unique_lock<std::mutex>(lock_of(u));
    links(u)[0] = uint32_t(chosen.size());
    std::copy(chosen.begin(), chosen.end(), links(u) + 1);
  }
  for (uint32_t n : chosen) add_reverse_link(n, u, locking);
}

uint32_t HeadIndex::add(const float* v) {
  const uint32_t u = size();
  append_unlinked(v, true);
  // Entry points follow the data: the first heads, then one new head in pivot_ratio (new heads come
  // from splits, so where the data grows). The upper layer is rebuilt when the pivots doubled.
  if (pivots_.size() < size_t(params_.n_pivots) || u % uint32_t(std::max(1, params_.pivot_ratio)) == 0) {
    pivots_.push_back(u);  // beyond the upper layer's nodes it is scanned until the next rebuild
    if (pivots_.size() > size_t(params_.max_scanned_pivots) &&
        (upper_ == nullptr || pivots_.size() >= 2 * size_t(upper_->size()))) {
      build_upper();
    }
  }
  HeadScratch scratch;
  link_new_node(u, &scratch, false);
  graph_built_ = true;
  return u;
}

void HeadIndex::build(const float* vecs, size_t n, ThreadPool* pool, std::vector<uint32_t> pivots) {
  centroids_.assign(vecs, vecs + n * size_t(dim_));
  alive_.assign(n, 1);
  n_alive_ = uint32_t(n);
  adj_.assign(n * size_t(degree_ + 1), 0);
  rebuild(pool, std::move(pivots));
}

void HeadIndex::rebuild(ThreadPool* pool, std::vector<uint32_t> given_pivots) {
  const uint32_t n = size();
  std::fill(adj_.begin(), adj_.end(), 0u);
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < n; ++i) {
    if (alive_[i]) order.push_back(i);
  }
  std::mt19937_64 rng(params_.seed);
  std::shuffle(order.begin(), order.end(), rng);
  given_pivots.erase(std::remove_if(given_pivots.begin(), given_pivots.end(),
                                    [&](uint32_t p) { return p >= n || !alive_[p]; }),
                     given_pivots.end());
  if (!given_pivots.empty()) {
    // Given entry points go first, so that they are linked before the rest.
    pivots_ = std::move(given_pivots);
    std::vector<uint8_t> is_pivot(n, 0);
    for (uint32_t p : pivots_) is_pivot[p] = 1;
    std::vector<uint32_t> rest;
    for (uint32_t u : order) {
      if (!is_pivot[u]) rest.push_back(u);
    }
    order = pivots_;
    order.insert(order.end(), rest.begin(), rest.end());
  } else {
    pivots_.assign(order.begin(), order.begin() + std::min<size_t>(order.size(), pivot_target()));
  }
  build_upper();
  graph_built_ = true;
  // Deterministic batches: neighbour searches of a batch run in parallel against the graph as it was
  // when the batch began; links are then applied in order (reverse links grouped by target node).
  const int nth = pool != nullptr ? pool->size() : 1;
  std::vector<HeadScratch> scratch(static_cast<size_t>(nth));
  std::vector<std::vector<uint32_t>> chosen;
  size_t done = 0;
  while (done < order.size()) {
    const size_t batch = std::max<size_t>(1, std::min<size_t>(2048, done / 8));
    const size_t end = std::min(order.size(), done + batch);
    chosen.assign(end - done, {});
    auto search_range = [&](size_t b, size_t e, int t) {
      std::vector<Cand> cand;
      for (size_t i = b; i < e; ++i) {
        const uint32_t u = order[done + i];
        beam(vec(u), params_.ef_construction, &scratch[size_t(t)], false);
        cand.clear();
        for (const Cand& c : scratch[size_t(t)].top) {
          if (c.second != u) cand.push_back(c);
        }
        select_neighbors(vec(u), cand, degree_, &chosen[i]);
      }
    };
    if (pool != nullptr && nth > 1 && end - done >= 64) {
      pool->run([&](int ith, int nt) {
        int64_t b, e;
        ThreadPool::split_range(int64_t(end - done), 1, ith, nt, &b, &e);
        if (b < e) search_range(size_t(b), size_t(e), ith);
      });
    } else {
      search_range(0, end - done, 0);
    }
    // Forward links, then reverse links grouped by target (independent per target node).
    std::vector<std::pair<uint32_t, uint32_t>> rev;  // (target, new node)
    for (size_t i = 0; i < end - done; ++i) {
      const uint32_t u = order[done + i];
      links(u)[0] = uint32_t(chosen[i].size());
      std::copy(chosen[i].begin(), chosen[i].end(), links(u) + 1);
      for (uint32_t t : chosen[i]) rev.emplace_back(t, u);
    }
    std::stable_sort(rev.begin(), rev.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<size_t> starts;
    for (size_t i = 0; i < rev.size(); ++i) {
      if (i == 0 || rev[i].first != rev[i - 1].first) starts.push_back(i);
    }
    starts.push_back(rev.size());
    auto rev_range = [&](size_t b, size_t e) {
      for (size_t g = b; g < e; ++g) {
        for (size_t i = starts[g]; i < starts[g + 1]; ++i) add_reverse_link(rev[i].first, rev[i].second, false);
      }
    };
    const size_t groups = starts.size() - 1;
    if (pool != nullptr && nth > 1 && groups >= 64) {
      pool->parallel_for(int64_t(groups), 1, [&](int64_t b, int64_t e) { rev_range(size_t(b), size_t(e)); });
    } else {
      rev_range(0, groups);
    }
    done = end;
  }
}

void HeadIndex::search_exhaustive(const float* q, std::vector<Cand>* out) const {
  out->clear();
  out->reserve(n_alive_);
  for (uint32_t i = 0; i < size(); ++i) {
    if (alive_[i]) out->emplace_back(l2_sq(q, vec(i), size_t(dim_)), i);
  }
  std::sort(out->begin(), out->end());
}

void HeadIndex::search_from(const float* q, uint32_t entry, size_t n, int ef, HeadScratch* scratch,
                            std::vector<Cand>* out) const {
  if (n_alive_ <= uint32_t(params_.exhaustive_below) || !graph_built_ || entry >= size()) {
    search(q, n, ef, scratch, out);
    return;
  }
  beam(q, std::max<int>(ef, int(n)), scratch, false, entry);
  out->assign(scratch->top.begin(), scratch->top.begin() + std::min(n, scratch->top.size()));
}

void HeadIndex::search(const float* q, size_t n, int ef, HeadScratch* scratch, std::vector<Cand>* out) const {
  if (n_alive_ <= uint32_t(params_.exhaustive_below) || !graph_built_) {
    search_exhaustive(q, out);
    if (out->size() > n) out->resize(n);
    return;
  }
  beam(q, std::max<int>(ef, int(n)), scratch, false);
  out->assign(scratch->top.begin(), scratch->top.begin() + std::min(n, scratch->top.size()));
}

Status HeadIndex::write_graph(const std::string& path) const {
  MNEMO_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::create(path));
  uint8_t header[20];
  const uint32_t n = size(), deg = uint32_t(degree_), np = uint32_t(pivots_.size());
  std::memcpy(header, kGraphMagic, 8);
  std::memcpy(header + 8, &n, 4);
  std::memcpy(header + 12, &deg, 4);
  std::memcpy(header + 16, &np, 4);
  uint32_t crc = crc32c(header, sizeof header);
  crc = crc32c_extend(crc, adj_.data(), adj_.size() * 4);
  crc = crc32c_extend(crc, pivots_.data(), pivots_.size() * 4);
  MNEMO_RETURN_IF_ERROR(w->write(header, sizeof header));
  MNEMO_RETURN_IF_ERROR(w->write(adj_.data(), adj_.size() * 4));
  MNEMO_RETURN_IF_ERROR(w->write(pivots_.data(), pivots_.size() * 4));
  MNEMO_RETURN_IF_ERROR(w->write(&crc, 4));
  return w->commit();
}

Status HeadIndex::read_graph(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found(path + ": cannot open: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto read_at = [&](void* dst, size_t bytes, uint64_t off) -> bool {
    size_t done = 0;
    while (done < bytes) {
      ssize_t r = ::pread(fd, static_cast<uint8_t*>(dst) + done, bytes - done, off_t(off + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      done += size_t(r);
    }
    return true;
  };
  struct stat st;
  if (::fstat(fd, &st) != 0) return io_error(path + ": cannot stat");
  uint8_t header[20];
  if (!read_at(header, sizeof header, 0)) return corrupt(path + ": expected a 20-byte header, found a shorter file");
  if (std::memcmp(header, kGraphMagic, 8) != 0) return corrupt(path + ": expected magic MNHGRPH1");
  uint32_t n, deg, np, crc;
  std::memcpy(&n, header + 8, 4);
  std::memcpy(&deg, header + 12, 4);
  std::memcpy(&np, header + 16, 4);
  if (n != size() || deg != uint32_t(degree_)) {
    return corrupt(path + ": expected " + std::to_string(size()) + " nodes of degree " + std::to_string(degree_) +
                   ", found " + std::to_string(n) + " of degree " + std::to_string(deg));
  }
  const uint64_t adj_words = uint64_t(n) * (deg + 1);
  const uint64_t need = 20 + adj_words * 4 + uint64_t(np) * 4 + 4;
  if (uint64_t(st.st_size) != need) {
    return corrupt(path + ": expected " + std::to_string(need) + " bytes, found " + std::to_string(st.st_size));
  }
  std::vector<uint32_t> adj(adj_words);
  std::vector<uint32_t> piv(np);
  if (!read_at(adj.data(), adj_words * 4, 20) || !read_at(piv.data(), size_t(np) * 4, 20 + adj_words * 4) ||
      !read_at(&crc, 4, need - 4)) {
    return io_error(path + ": read failed");
  }
  uint32_t c = crc32c(header, sizeof header);
  c = crc32c_extend(c, adj.data(), adj.size() * 4);
  c = crc32c_extend(c, piv.data(), piv.size() * 4);
  if (c != crc) return corrupt(path + ": checksum mismatch (file damaged)");
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t* l = adj.data() + size_t(i) * (deg + 1);
    if (l[0] > deg) return corrupt(path + ": node " + std::to_string(i) + " has more than " + std::to_string(deg) + " edges");
    for (uint32_t j = 0; j < l[0]; ++j) {
      if (l[1 + j] >= n) return corrupt(path + ": node " + std::to_string(i) + " links to a missing node");
    }
  }
  for (uint32_t p : piv) {
    if (p >= n) return corrupt(path + ": a pivot beyond the node count");
  }
  adj_ = std::move(adj);
  pivots_ = std::move(piv);
  build_upper();
  graph_built_ = true;
  return Status::ok();
}

void HeadIndex::load(std::vector<float>&& centroids, std::vector<uint8_t>&& alive) {
  MNEMO_CHECK(centroids.size() == alive.size() * size_t(dim_));
  centroids_ = std::move(centroids);
  alive_ = std::move(alive);
  n_alive_ = 0;
  for (uint8_t a : alive_) n_alive_ += a != 0;
  adj_.assign(alive_.size() * size_t(degree_ + 1), 0);
  pivots_.clear();
  upper_.reset();
  graph_built_ = false;
}

}  // namespace mnemo::ltm::ann
