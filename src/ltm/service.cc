// MemoryService: opening, loading the RAM state from the database, helpers, maintenance.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "ltm/forgetting.h"
#include "ltm/service_impl.h"
#include "ltm/text.h"

namespace mnemo::ltm {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr int kCheckpointFrames = 8000;  // about 32 MiB of WAL

Status make_dirs(const std::string& dir) {
  std::string cur;
  for (const std::string& part : split(dir, '/')) {
    cur += part;
    if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return io_error(dir + ": cannot create directory, " + std::strerror(errno));
    cur += '/';
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return io_error(dir + ": not a directory");
  return Status::ok();
}

bool valid_label(std::string_view s, size_t max_bytes) {
  if (s.size() > max_bytes || !valid_utf8(s)) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

// ---- Impl: lifetime -------------------------------------------------------------------------

MemoryService::Impl::~Impl() {
  {
    std::lock_guard lock(maint_mu);
    stopping = true;
  }
  maint_cv.notify_all();
  if (maint.joinable()) maint.join();
  writer.reset();  // drains queued writes
  ann_stop_and_flush();
  {
    std::lock_guard lock(vfile_mu);
    if (vfile) (void)vfile->sync();
    vfile.reset();
  }
  if (ckpt_store) (void)ckpt_store->checkpoint();
  ckpt_store.reset();
  readers.clear();
  if (lock_fd >= 0) ::close(lock_fd);
}

Status MemoryService::Impl::open() {
  if (cfg.dir.empty()) return invalid_argument("--db: a memory directory is required");
  MNEMO_RETURN_IF_ERROR(make_dirs(cfg.dir));
  db_path = cfg.dir + "/memory.db";
  vec_path = cfg.dir + "/vectors.bin";
  std::string lock_path = cfg.dir + "/LOCK";
  lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return io_error(lock_path + ": cannot open, " + std::strerror(errno));
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
    return io_error(cfg.dir + ": expected an unused memory directory, found it open in another process");
  labels.intern("");
  MNEMO_ASSIGN_OR_RETURN(embedder, make_embedder(cfg.embedder));
  MNEMO_RETURN_IF_ERROR(load());
  MNEMO_RETURN_IF_ERROR(open_ann(writer_max_seq));
  MNEMO_ASSIGN_OR_RETURN(ckpt_store, Store::open(db_path, false, cfg.sqlite_vfs, false));
  maint = std::thread([this] { maintenance_loop(); });
  return Status::ok();
}

Status MemoryService::Impl::load() {
  MNEMO_ASSIGN_OR_RETURN(auto store, Store::open(db_path, true, cfg.sqlite_vfs, false));
  MNEMO_ASSIGN_OR_RETURN(uint64_t max_seq, store->max_seq());
  std::string space = embedder->name();

  // The hot tier, and the corpus statistics of the embedder.
  std::vector<StoredMemory> rows;
  MNEMO_RETURN_IF_ERROR(store->for_each(Tier::kHot, [&](StoredMemory&& m) {
    rows.push_back(std::move(m));
    return Status::ok();
  }));
  for (const auto& m : rows) embedder->observe(index_text(m.rec), +1);

  // Vectors from the index file; those behind the database (or missing) are re-embedded.
  std::unordered_map<uint64_t, VectorFile::Entry> entries;
  VectorFile::LoadStats ls;
  bool rewrite = false;
  if (file_exists(vec_path)) {
    auto vf = VectorFile::open(vec_path, embedder->dim(), space, &entries, &ls);
    if (!vf) {
      MNEMO_LOG_WARN("%s; rebuilding it from the database", vf.status().message().c_str());
      entries.clear();
      rewrite = true;
    } else {
      vfile = std::move(*vf);
      if (ls.truncated_bytes > 0)
        MNEMO_LOG_WARN("%s: cut a damaged tail of %llu bytes", vec_path.c_str(),
                       static_cast<unsigned long long>(ls.truncated_bytes));
    }
  } else {
    rewrite = true;
  }
  std::vector<size_t> missing;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto it = entries.find(rows[i].rec.id);
    if (it == entries.end() || it->second.seq != rows[i].seq) missing.push_back(i);
  }
  rebuilt_at_open = static_cast<int64_t>(missing.size());
  if (!missing.empty()) {
    if (!rewrite)
      MNEMO_LOG_INFO("%s: %zu vectors behind the database, re-embedding", vec_path.c_str(), missing.size());
    const size_t batch = 64;
    for (size_t b = 0; b < missing.size(); b += batch) {
      std::vector<std::string> texts;
      for (size_t j = b; j < std::min(missing.size(), b + batch); ++j) texts.push_back(index_text(rows[missing[j]].rec));
      MNEMO_ASSIGN_OR_RETURN(auto vecs, embedder->embed(texts));
      for (size_t j = 0; j < vecs.size(); ++j) {
        const StoredMemory& m = rows[missing[b + j]];
        VectorFile::Entry e;
        e.seq = m.seq;
        e.corpus_n = embedder->corpus_size();
        e.vec = std::move(vecs[j]);
        entries[m.rec.id] = std::move(e);
      }
    }
  }
  // Entries of memories no longer hot are dropped by rewriting the file when there are many.
  size_t dead = entries.size() > rows.size() ? entries.size() - rows.size() : 0;
  std::unordered_map<uint64_t, VectorFile::Entry> live;
  live.reserve(rows.size());
  for (const auto& m : rows) {
    auto it = entries.find(m.rec.id);
    if (it != entries.end()) live.emplace(m.rec.id, std::move(it->second));
  }
  entries.clear();
  if (rewrite || !missing.empty() || dead > 0 || (vfile && vfile->records() > 2 * live.size() + 1024)) {
    vfile.reset();
    MNEMO_ASSIGN_OR_RETURN(vfile, VectorFile::rewrite(vec_path, embedder->dim(), space, live));
  }
  vfile_live = live.size();

  for (auto& m : rows) {
    auto it = live.find(m.rec.id);
    MNEMO_ASSIGN_OR_RETURN(Prepared p, prepare(m.rec, m.norm_hash, m.seq, &it->second.vec));
    p.meta.corpus_n = it->second.corpus_n;
    UserState& u = user_for_write(m.rec.scope.user_id);
    std::unique_lock lock(u.mu);
    u.insert(std::move(p.meta), p.vec);
  }
  store->watch_wal();
  writer_store = store.get();
  writer = std::make_unique<Writer>(std::move(store), max_seq + 1, cfg.max_batch);
  writer_max_seq = max_seq;
  return Status::ok();
}

void MemoryService::Impl::maintenance_loop() {
  auto last_sync = std::chrono::steady_clock::now();
  auto last_maint = last_sync;
  auto last_ckpt = last_sync;
  std::unique_lock lock(maint_mu);
  while (!stopping) {
    maint_cv.wait_for(lock, std::chrono::milliseconds(500));
    if (stopping) break;
    lock.unlock();
    auto now = std::chrono::steady_clock::now();
    // Checkpoint when the WAL holds many frames (its syncs then compete with few commits), or
    // every 30 s when it holds any.
    const int frames = writer_store->wal_frames();
    if (frames >= kCheckpointFrames || (frames > 0 && now - last_ckpt > std::chrono::seconds(30))) {
      Status s = ckpt_store->checkpoint();
      if (!s.is_ok()) MNEMO_LOG_WARN("memory checkpoint: %s", s.message().c_str());
      last_ckpt = now;
    }
    if (cfg.background_maintenance && changes_since_maint.load() > 0 && now - last_maint > std::chrono::seconds(30)) {
      Status ms = maintain();
      if (!ms.is_ok()) MNEMO_LOG_WARN("memory maintenance: %s", ms.message().c_str());
      last_maint = now;
    }
    if (now - last_sync > std::chrono::seconds(5)) {
      std::lock_guard vl(vfile_mu);
      if (vfile) {
        Status vs = vfile->sync();
        if (!vs.is_ok()) MNEMO_LOG_WARN("%s", vs.message().c_str());
      }
      if (VectorIndex* a = ann.load()) {
        Status as = a->flush();
        if (!as.is_ok()) MNEMO_LOG_WARN("ANN index flush: %s", as.message().c_str());
      }
      last_sync = now;
    }
    lock.lock();
  }
}

// ---- Impl: helpers ---------------------------------------------------------------------------

UserState* MemoryService::Impl::find_user(const std::string& user_id) const {
  std::shared_lock lock(users_mu);
  auto it = users.find(user_id);
  return it == users.end() ? nullptr : it->second.get();
}

UserState& MemoryService::Impl::user_for_write(const std::string& user_id) {
  {
    std::shared_lock lock(users_mu);
    auto it = users.find(user_id);
    if (it != users.end()) return *it->second;
  }
  std::unique_lock lock(users_mu);
  auto& slot = users[user_id];
  if (!slot) slot = std::make_unique<UserState>(embedder->dim(), cfg.retrieval.context_weights);
  return *slot;
}

MemoryService::Impl::Lease::~Lease() {
  if (impl && store) {
    std::lock_guard lock(impl->readers_mu);
    impl->readers.push_back(std::move(store));
  }
}

Expected<MemoryService::Impl::Lease> MemoryService::Impl::reader() {
  Lease l;
  l.impl = this;
  {
    std::lock_guard lock(readers_mu);
    if (!readers.empty()) {
      l.store = std::move(readers.back());
      readers.pop_back();
      return l;
    }
  }
  MNEMO_ASSIGN_OR_RETURN(l.store, Store::open(db_path, false, cfg.sqlite_vfs, true));
  return l;
}

Status MemoryService::Impl::validate_scope(const Scope& s, const char* subject) const {
  if (s.user_id.empty()) return invalid_argument(std::string(subject) + ": user_id is required");
  if (!valid_label(s.user_id, cfg.max_scope_bytes))
    return invalid_argument(str_printf("%s: user_id: expected 1..%zu bytes of UTF-8 without control characters",
                                       subject, cfg.max_scope_bytes));
  if (!valid_label(s.agent_id, cfg.max_scope_bytes))
    return invalid_argument(str_printf("%s: agent_id: expected up to %zu bytes of UTF-8 without control characters",
                                       subject, cfg.max_scope_bytes));
  if (!valid_label(s.session_id, cfg.max_scope_bytes))
    return invalid_argument(str_printf("%s: session_id: expected up to %zu bytes of UTF-8 without control characters",
                                       subject, cfg.max_scope_bytes));
  return Status::ok();
}

bool MemoryService::Impl::scope_matches(const Scope& want, const Scope& have) const {
  if (want.user_id != have.user_id) return false;
  if (!want.agent_id.empty() && want.agent_id != have.agent_id) return false;
  if (!want.session_id.empty() && want.session_id != have.session_id) return false;
  return true;
}

std::string MemoryService::Impl::index_text(const MemoryRecord& rec) {
  if (rec.context.empty()) return rec.text;
  return rec.text + "\n" + rec.context;
}

Expected<Prepared> MemoryService::Impl::prepare(const MemoryRecord& rec, uint64_t norm_hash, uint64_t seq,
                                                 const Vector* vec) {
  Prepared p;
  SlotMeta& m = p.meta;
  m.id = rec.id;
  m.agent = rec.scope.agent_id.empty() ? 0 : labels.intern("a:" + rec.scope.agent_id);
  m.session = rec.scope.session_id.empty() ? 0 : labels.intern("s:" + rec.scope.session_id);
  m.kind = labels.intern("k:" + rec.kind);
  for (const auto& t : rec.tags) m.tags.push_back(labels.intern("t:" + t));
  m.event_time_ms = rec.event_time_ms;
  m.strength = rec.strength;
  m.last_access_ms = rec.last_access_ms;
  m.access_count = rec.access_count;
  m.norm_hash = norm_hash;
  m.seq = seq;
  m.text = index_text(rec);
  std::vector<uint32_t> ids;
  for (const std::string& s : stemmed_tokens(m.text)) ids.push_back(terms.intern(s));
  m.own = make_bag(ids);
  for (const auto& [t, c] : m.own) m.stems.push_back(t);
  for (const std::string& kw : rec.keywords)
    for (const std::string& s : stemmed_tokens(kw)) m.keywords.push_back(terms.intern(s));
  std::sort(m.keywords.begin(), m.keywords.end());
  m.keywords.erase(std::unique(m.keywords.begin(), m.keywords.end()), m.keywords.end());
  m.links = rec.links;
  if (vec != nullptr) {
    p.vec = *vec;
  } else {
    m.corpus_n = embedder->corpus_size();
    MNEMO_ASSIGN_OR_RETURN(auto vs, embedder->embed({m.text}));
    p.vec = std::move(vs[0]);
  }
  return p;
}

SlotFilter MemoryService::Impl::make_filter(const Filter& f) const {
  SlotFilter sf;
  auto find = [&](const std::string& key) {
    uint32_t id = labels.find(key);
    if (id == Vocabulary::kMissing) sf.impossible = true;
    return id;
  };
  if (!f.scope.agent_id.empty()) sf.agent = find("a:" + f.scope.agent_id);
  if (!f.scope.session_id.empty()) sf.session = find("s:" + f.scope.session_id);
  // Kinds and tags are "any of": unknown ones just match nothing.
  for (const auto& k : f.kinds) {
    uint32_t id = labels.find("k:" + k);
    if (id != Vocabulary::kMissing) sf.kinds.push_back(id);
  }
  if (!f.kinds.empty() && sf.kinds.empty()) sf.impossible = true;
  for (const auto& t : f.tags) {
    uint32_t id = labels.find("t:" + t);
    if (id != Vocabulary::kMissing) sf.tags.push_back(id);
  }
  if (!f.tags.empty() && sf.tags.empty()) sf.impossible = true;
  sf.from_ms = f.time_from_ms;
  sf.to_ms = f.time_to_ms;
  return sf;
}

void MemoryService::Impl::ram_insert(UserState& u, Prepared&& p) {
  const uint64_t id = p.meta.id, seq = p.meta.seq, corpus_n = p.meta.corpus_n;
  std::string text = p.meta.text;
  std::string replaced;
  bool had = false;
  {
    std::unique_lock lock(u.mu);
    uint32_t old = u.slot_of(id);
    if (old != UINT32_MAX) {
      replaced = u.meta(old).text;
      had = true;
      u.erase(id);
    }
    u.insert(std::move(p.meta), p.vec);
  }
  if (had) embedder->observe(replaced, -1);
  embedder->observe(text, +1);
  {
    std::lock_guard lock(vfile_mu);
    if (vfile) {
      Status s = vfile->put(id, seq, corpus_n, p.vec);
      if (!s.is_ok()) MNEMO_LOG_WARN("%s", s.message().c_str());
    }
    if (!had) ++vfile_live;
  }
  if (ann_enabled() && !ann_failed) {
    if (u.in_ann) {
      ann_enqueue({AnnOp::kAdd, id, seq, p.vec, &u});
    } else if (static_cast<int64_t>(u.size()) >= ann_mirror_min()) {
      bool expected = false;
      if (u.in_ann.compare_exchange_strong(expected, true)) ann_enqueue({AnnOp::kBulk, 0, 0, {}, &u});
    }
  }
  changes_since_maint.fetch_add(1, std::memory_order_relaxed);
}

void MemoryService::Impl::ram_erase(UserState& u, uint64_t id, uint64_t seq) {
  std::string text;
  {
    std::unique_lock lock(u.mu);
    uint32_t s = u.slot_of(id);
    if (s == UINT32_MAX) return;
    text = u.meta(s).text;
    u.erase(id);
  }
  embedder->observe(text, -1);
  {
    std::lock_guard lock(vfile_mu);
    if (vfile) (void)vfile->remove(id, seq);
    if (vfile_live > 0) --vfile_live;
  }
  if (u.in_ann) ann_enqueue({AnnOp::kRemove, id, seq, {}, &u});
  changes_since_maint.fetch_add(1, std::memory_order_relaxed);
}

void MemoryService::Impl::overlay(MemoryRecord& rec, int64_t now) const {
  if (rec.tier == Tier::kHot) {
    if (UserState* u = find_user(rec.scope.user_id)) {
      std::shared_lock lock(u->mu);
      uint32_t s = u->slot_of(rec.id);
      if (s != UINT32_MAX) {
        const SlotMeta& m = u->meta(s);
        rec.strength = m.strength;
        rec.last_access_ms = m.last_access_ms;
        rec.access_count = m.access_count;
      }
    }
  }
  rec.retention = retention(rec.strength, rec.last_access_ms, now, cfg.forget_k_days);
}

AnnSearch MemoryService::Impl::ann_for(const UserState& u) {
  VectorIndex* index = ann.load();
  if (index == nullptr || ann_failed || !u.ann_ready || static_cast<int64_t>(u.size()) < cfg.ann_min_user_memories)
    return {};
  const int probes = cfg.retrieval.ann_probes;
  const float eps = static_cast<float>(cfg.retrieval.ann_prune_epsilon);
  return [index, probes, eps](const float* q, int n, const std::function<bool(uint64_t)>& keep, uint64_t card) {
    SearchOptions o;
    o.k = n;
    o.filter = keep;
    o.filter_cardinality = card;
    o.max_probes = probes;
    o.prune_epsilon = eps;
    auto r = index->search(std::span<const float>(q, index->dim()), o);
    if (!r) {
      MNEMO_LOG_WARN("ANN search failed, scanning exactly: %s", r.status().message().c_str());
      return std::optional<std::vector<uint64_t>>();
    }
    std::vector<uint64_t> ids;
    ids.reserve(r->size());
    for (const auto& nb : *r) ids.push_back(nb.id);
    return std::optional<std::vector<uint64_t>>(std::move(ids));
  };
}

// ---- MemoryService ---------------------------------------------------------------------------

MemoryService::MemoryService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MemoryService::~MemoryService() = default;

Expected<std::unique_ptr<MemoryService>> MemoryService::open(const MemoryConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  if (config.link_k < 0 || config.link_k > 64) return invalid_argument("--link-k: expected 0..64");
  if (config.max_k < 1) return invalid_argument("max_k: expected >= 1");
  MNEMO_RETURN_IF_ERROR(impl->open());
  return std::unique_ptr<MemoryService>(new MemoryService(std::move(impl)));
}

Expected<AddResult> MemoryService::add(const AddRequest& req) { return impl_->add(req); }
Expected<std::vector<AddResult>> MemoryService::add_many(const std::vector<AddRequest>& reqs) {
  return impl_->add_many(reqs);
}
Expected<std::vector<SearchHit>> MemoryService::search(const SearchRequest& req) { return impl_->search(req); }
Expected<MemoryRecord> MemoryService::get(const Scope& scope, uint64_t id) { return impl_->get(scope, id); }
Expected<std::vector<MemoryRecord>> MemoryService::list(const ListRequest& req) { return impl_->list(req); }
Expected<MemoryRecord> MemoryService::update(const UpdateRequest& req) { return impl_->update(req); }
Status MemoryService::remove(const Scope& scope, uint64_t id) { return impl_->remove(scope, id); }
Expected<int64_t> MemoryService::remove_all(const Scope& scope) { return impl_->remove_all(scope); }
Expected<std::vector<HistoryEntry>> MemoryService::history(const Scope& scope, uint64_t id) {
  return impl_->history(scope, id);
}
Expected<ForgetResult> MemoryService::forget(const ForgetRequest& req) { return impl_->forget(req); }
Expected<MemoryRecord> MemoryService::restore(const Scope& scope, uint64_t id) { return impl_->restore(scope, id); }
Status MemoryService::maintain() { return impl_->maintain(); }
const MemoryConfig& MemoryService::config() const { return impl_->cfg; }

Status MemoryService::flush() {
  Status s;
  {
    std::lock_guard lock(impl_->vfile_mu);
    if (impl_->vfile) s = impl_->vfile->sync();
  }
  impl_->ann_drain();
  return s;
}

ServiceStats MemoryService::stats() const {
  ServiceStats st;
  {
    std::shared_lock lock(impl_->users_mu);
    for (const auto& [name, u] : impl_->users) {
      std::shared_lock ul(u->mu);
      if (u->size() > 0) ++st.users;
      st.hot_memories += static_cast<int64_t>(u->size());
    }
  }
  auto r = impl_->writer->call([&](Store& s) -> Status {
    auto c = s.count(Tier::kCold);
    if (c) st.cold_memories = *c;
    return c.status();
  });
  (void)r;
  WriterStats ws = impl_->writer->stats();
  st.commits = static_cast<int64_t>(ws.commits);
  st.writes = static_cast<int64_t>(ws.jobs);
  st.vectors_rebuilt_at_open = impl_->rebuilt_at_open;
  st.embedder = impl_->embedder->name();
  st.vector_search = impl_->vector_search();
  return st;
}

}  // namespace mnemo::ltm
