// SPANN search (Chen et al. 2021, section 3.3): nearest heads from the in-RAM graph, query-aware
// pruning of posting lists, one asynchronous batch of O_DIRECT reads, merge with dedup.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ltm/ann/crc32c.h"
#include "ltm/ann/distance.h"
#include "ltm/ann/spann_index.h"
#include "ltm/ann/spann_internal.h"
#include "ltm/ann/topk.h"

namespace mnemo::ltm::ann {

struct SpannIndex::Query {
  const float* q = nullptr;
  const SearchOptions* opts = nullptr;
  TopK top;
  bool count_matches = false;  // filtered: check every live record to estimate selectivity
  uint64_t scanned = 0;        // records whose distance was computed
  uint64_t live_scanned = 0;   // of those, live (counted when count_matches)
  uint64_t matched = 0;        // of those, accepted by the filter (counted when count_matches)
  uint64_t pages = 0;
  uint64_t probed = 0;
  Status error;
};

namespace {
constexpr size_t kMaxWave = 128;  // lists per asynchronous batch
// One posting-list read costs about as much as this many filter calls (for the strategy choice).
constexpr double kFilterCallsPerListRead = 5000.0;
}  // namespace

void SpannIndex::scan(const uint8_t* recs, size_t n, Query* qs, Scratch* s) const {
  if (n == 0) return;
  s->dist.resize(n);
  l2_sq_batch(qs->q, record_vec(recs), rec_bytes_ / 4, n, size_t(dim_), s->dist.data());
  qs->scanned += n;
  const auto& filter = qs->opts->filter;
  TopK& top = qs->top;
  for (size_t j = 0; j < n; ++j) {
    const uint8_t* r = recs + j * rec_bytes_;
    const float d = s->dist[j];
    if (qs->count_matches) {
      const uint64_t id = record_id(r);
      if (!live(id, record_version(r))) continue;
      ++qs->live_scanned;
      if (!filter(id)) continue;
      ++qs->matched;
      if (!top.would_enter(d) || top.contains(id)) continue;
      top.push(id, d);
      continue;
    }
    if (!top.would_enter(d)) continue;
    const uint64_t id = record_id(r);
    if (!live(id, record_version(r))) continue;
    if (filter && !filter(id)) continue;
    if (top.contains(id)) continue;
    top.push(id, d);
  }
}

Status SpannIndex::probe(std::span<const uint32_t> lists, Query* qs, Scratch* s) const {
  if (lists.size() > kMaxWave) {
    for (size_t b = 0; b < lists.size(); b += kMaxWave) {
      MNEMO_RETURN_IF_ERROR(probe(lists.subspan(b, std::min(kMaxWave, lists.size() - b)), qs, s));
    }
    return Status::ok();
  }
  size_t total_pages = 0;
  for (uint32_t l : lists) total_pages += pages_for(uint64_t(lists_[l].count) * rec_bytes_);
  s->io.resize(std::max<size_t>(total_pages, 1) * kPageBytes);
  std::vector<BatchReader::Request> reqs;
  reqs.reserve(lists.size());
  std::vector<size_t> offset(lists.size());
  size_t cursor = 0;
  for (size_t i = 0; i < lists.size(); ++i) {
    const ListInfo& L = lists_[lists[i]];
    const uint32_t pages = pages_for(uint64_t(L.count) * rec_bytes_);
    offset[i] = cursor;
    if (pages == 0) continue;
    reqs.push_back({L.page, pages, s->io.data() + cursor * kPageBytes, uint32_t(i)});
    cursor += pages;
  }
  Status first = s->reader.submit(reqs);
  if (!first.is_ok()) {
    // Some reads may be in flight: they land in s->io, so collect them before giving it back.
    s->reader.drain();
    return first;
  }
  // RAM-resident (pending) records while the reads are in flight.
  for (uint32_t l : lists) {
    auto it = pending_.find(l);
    if (it != pending_.end()) scan(it->second.data(), it->second.size() / rec_bytes_, qs, s);
  }
  while (s->reader.in_flight() > 0) {
    s->done.clear();
    Status st = s->reader.wait(&s->done);
    if (!st.is_ok() && first.is_ok()) first = st;
    for (uint32_t tag : s->done) {
      const uint32_t l = lists[tag];
      const ListInfo& L = lists_[l];
      const uint8_t* buf = s->io.data() + offset[tag] * kPageBytes;
      if (params_.verify_checksums && crc32c(buf, size_t(L.count) * rec_bytes_) != L.crc) {
        if (first.is_ok()) {
          first = corrupt(postings_->path() + ": posting list " + std::to_string(l) + " at page " +
                          std::to_string(L.page) + ": checksum mismatch (file damaged)");
        }
        continue;
      }
      if (first.is_ok()) scan(buf, L.count, qs, s);
    }
  }
  qs->pages += total_pages;
  qs->probed += lists.size();
  return first;
}

Expected<bool> SpannIndex::enumerate_filtered(Query* qs, Scratch* s, uint64_t cap) const {
  std::vector<uint32_t> homes;
  const auto& filter = qs->opts->filter;
  const bool complete = ids_.for_each_while([&](uint64_t id, const IdEntry& e) {
    if (!filter(id)) return true;
    homes.push_back(e.home);
    return homes.size() <= cap;
  });
  if (!complete) return false;
  std::sort(homes.begin(), homes.end());
  homes.erase(std::unique(homes.begin(), homes.end()), homes.end());
  std::vector<uint32_t> wave;
  for (uint32_t l : homes) {
    if (s->probed[l] == s->probed_epoch) continue;
    s->probed[l] = s->probed_epoch;
    wave.push_back(l);
    if (wave.size() == kMaxWave) {
      MNEMO_RETURN_IF_ERROR(probe(wave, qs, s));
      wave.clear();
    }
  }
  if (!wave.empty()) MNEMO_RETURN_IF_ERROR(probe(wave, qs, s));
  return true;
}

Status SpannIndex::search_locked(const float* q, const SearchOptions& opts, Scratch* s, std::vector<Neighbor>* out) {
  Query qs;
  qs.q = q;
  qs.opts = &opts;
  qs.top.reset(opts.k);
  const uint64_t n_ids = ids_.size();
  auto finish = [&]() {
    *out = qs.top.take_sorted();
    last_reads_.store(qs.pages, std::memory_order_relaxed);
    last_scanned_.store(qs.scanned, std::memory_order_relaxed);
    last_probed_.store(qs.probed, std::memory_order_relaxed);
    return Status::ok();
  };
  if (opts.k == 0 || n_ids == 0 || head_.n_alive() == 0) return finish();
  const int probes = opts.max_probes > 0 ? opts.max_probes : params_.max_probes;
  const float eps = opts.prune_epsilon > 0 ? opts.prune_epsilon : params_.prune_epsilon;
  const bool filtered = bool(opts.filter);

  if (s->probed.size() < lists_.size()) s->probed.resize(lists_.size() + lists_.size() / 4 + 16, 0);
  if (++s->probed_epoch == 0) {
    std::fill(s->probed.begin(), s->probed.end(), 0);
    s->probed_epoch = 1;
  }
  const uint32_t epoch = s->probed_epoch;

  // Strategy for selective filters: enumerating matching ids costs n_ids filter calls plus one
  // read per matching id's home list; probing costs about S1 / selectivity records, S1 being what
  // an unfiltered search scans. Enumerate below the cardinality F* where the two are equal.
  const double n_lists = std::max<double>(1.0, head_.n_alive());
  const double avg_len = std::max(1.0, double(n_records_) / n_lists);
  auto crossover = [&](double s1) {
    const double a = double(n_ids) / kFilterCallsPerListRead;
    const double b = s1 * double(n_ids) / avg_len;
    return (-a + std::sqrt(a * a + 4.0 * b)) / 2.0;
  };
  if (filtered && opts.filter_cardinality > 0 &&
      double(opts.filter_cardinality) <= crossover(double(probes) * avg_len)) {
    MNEMO_ASSIGN_OR_RETURN(bool done, enumerate_filtered(&qs, s, uint64_t(4 * crossover(double(probes) * avg_len)) + 64));
    if (done) return finish();
  }

  // Nearest heads, then query-aware pruning: lists within (1 + eps) of the nearest, at most `probes`.
  const size_t n_cand = size_t(std::max(probes, params_.head_ef));
  if (n_cand * 8 >= head_.n_alive()) {
    head_.search_exhaustive(q, &s->cands);  // a beam this wide costs more than scanning every head
    if (s->cands.size() > n_cand) s->cands.resize(n_cand);
  } else {
    head_.search(q, n_cand, std::max(params_.head_ef, probes), &s->head, &s->cands);
  }
  std::vector<uint32_t> wave;
  size_t cand_pos = 0;
  if (!s->cands.empty()) {
    const float limit = (1.0f + eps) * s->cands[0].first;
    while (cand_pos < s->cands.size() && wave.size() < size_t(probes) &&
           (wave.empty() || s->cands[cand_pos].first <= limit)) {
      const uint32_t l = s->cands[cand_pos++].second;
      s->probed[l] = epoch;
      wave.push_back(l);
    }
  }
  qs.count_matches = filtered;
  MNEMO_RETURN_IF_ERROR(probe(wave, &qs, s));

  // Further lists in order of centroid distance: graph candidates, then every head.
  bool exhaustive = false;
  size_t all_pos = 0;
  auto next_wave = [&](size_t want) {
    wave.clear();
    while (wave.size() < want) {
      uint32_t l;
      if (cand_pos < s->cands.size()) {
        l = s->cands[cand_pos++].second;
      } else {
        if (!exhaustive) {
          head_.search_exhaustive(q, &s->all_cands);
          exhaustive = true;
        }
        if (all_pos >= s->all_cands.size()) break;
        l = s->all_cands[all_pos++].second;
      }
      if (s->probed[l] == epoch) continue;
      s->probed[l] = epoch;
      wave.push_back(l);
    }
    return !wave.empty();
  };

  uint64_t target_matches = 0;
  if (filtered) {
    // Probe until the filtered set has been covered as deeply as an unfiltered search covers the
    // whole set: about S1 matching records (selectivity-independent recall).
    const double s1 = std::max<double>(1.0, double(qs.live_scanned));
    target_matches = uint64_t(s1);
    const double sel = double(qs.matched) / s1;
    const double est = sel * double(n_ids);
    if (qs.matched < target_matches && est <= crossover(s1)) {
      MNEMO_ASSIGN_OR_RETURN(bool done, enumerate_filtered(&qs, s, uint64_t(4 * crossover(s1)) + 64));
      if (done) return finish();
    }
  }
  size_t want = size_t(probes);
  while (qs.top.size() < size_t(opts.k) || (filtered && qs.matched < target_matches)) {
    want = std::min(kMaxWave, want * 2);
    if (!next_wave(want)) break;
    MNEMO_RETURN_IF_ERROR(probe(wave, &qs, s));
  }
  return finish();
}

Expected<std::vector<Neighbor>> SpannIndex::search(std::span<const float> query, const SearchOptions& opts) {
  if (query.size() != size_t(dim_)) {
    return invalid_argument("query: expected dimension " + std::to_string(dim_) + ", found " +
                            std::to_string(query.size()));
  }
  if (opts.k < 0) return invalid_argument("k: expected >= 0, found " + std::to_string(opts.k));
  for (float v : query) {
    if (!std::isfinite(v)) return invalid_argument("query: expected finite values, found NaN or infinity");
  }
  std::shared_lock lock(mu_);
  auto s = take_scratch();
  std::vector<Neighbor> out;
  Status st = search_locked(query.data(), opts, s.get(), &out);
  give_scratch(std::move(s));
  if (!st.is_ok()) return st;
  return out;
}

}  // namespace mnemo::ltm::ann
