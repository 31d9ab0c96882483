// MemoryService and the SPANN index: which users are mirrored, the background applier, and
// bringing the index up to date with the database at open.
//
// The index is derived data like vectors.bin: it records the highest sequence it applied
// durably (applied_seq, committed by flush()). At open, memories of mirrored users changed after
// it are re-added and memories changed after it that are no longer hot are removed; a missing,
// damaged or ahead-of-the-database index is rebuilt from the vectors in RAM. Changes reach it
// through a queue applied off the acknowledgement path, so for a large user a just-added memory
// becomes findable by ANN a moment after its add returns (exact search serves small users at once).
#include <algorithm>
#include <unordered_set>

#include "base/log.h"
#include "base/strings.h"
#include "ltm/service_impl.h"

#ifdef MNEMO_LTM_HAVE_ANN
#include "ltm/ann/spann_index.h"
#endif

namespace mnemo::ltm {

bool MemoryService::Impl::ann_enabled() const {
#ifdef MNEMO_LTM_HAVE_ANN
  return cfg.ann_min_user_memories > 0;
#else
  return false;
#endif
}

std::string MemoryService::Impl::vector_search() const {
  if (!ann_enabled()) return "exact";
  if (ann_failed) return "exact (ANN index failed)";
  return ann.load() ? "exact+spann" : "exact (spann when a user grows large)";
}

Status MemoryService::Impl::open_ann(uint64_t max_seq) {
  if (!ann_enabled()) return Status::ok();
#ifdef MNEMO_LTM_HAVE_ANN
  const std::string dir = cfg.dir + "/ann";
  std::vector<UserState*> large;
  {
    std::shared_lock lock(users_mu);
    for (auto& [name, u] : users)
      if (static_cast<int64_t>(u->size()) >= ann_mirror_min()) large.push_back(u.get());
  }
  std::unique_ptr<ann::SpannIndex> index;
  bool rebuild = false;
  auto opened = ann::SpannIndex::open(dir);
  if (opened) {
    index = std::move(*opened);
    if (index->dim() != embedder->dim() || index->applied_seq() > max_seq) {
      MNEMO_LOG_WARN("%s: index does not match the database (dimension or sequence); rebuilding", dir.c_str());
      index.reset();
      rebuild = true;
    }
  } else if (opened.status().code() == StatusCode::kNotFound) {
    rebuild = true;
  } else if (opened.status().code() == StatusCode::kCorrupt) {
    MNEMO_LOG_WARN("%s; rebuilding the ANN index from the database", opened.status().message().c_str());
    rebuild = true;
  } else {
    return opened.status();
  }
  if (rebuild) {
    if (large.empty()) {
      // Nothing to mirror yet: the index is created when the first user grows large.
      (void)ann::SpannIndex::destroy(dir);
      ann_thread = std::thread([this] { ann_loop(); });
      return Status::ok();
    }
    MNEMO_RETURN_IF_ERROR(ann::SpannIndex::destroy(dir));
    std::vector<float> vecs;
    std::vector<uint64_t> ids;
    for (UserState* u : large) {
      std::shared_lock lock(u->mu);
      for (uint32_t s = 0; s < u->capacity(); ++s) {
        if (!u->meta(s).live) continue;
        ids.push_back(u->meta(s).id);
        vecs.insert(vecs.end(), u->vec(s), u->vec(s) + u->dim());
      }
    }
    MNEMO_ASSIGN_OR_RETURN(index, ann::SpannIndex::build(dir, embedder->dim(), ann::SpannParams{}, vecs.data(),
                                                         ids.data(), ids.size(), max_seq, nullptr));
    MNEMO_RETURN_IF_ERROR(index->flush());
  } else {
    // Catch up: re-add what changed after the index's last flush, remove what left.
    const uint64_t applied = index->applied_seq();
    std::unordered_set<uint64_t> hot_large;
    for (UserState* u : large) {
      std::shared_lock lock(u->mu);
      for (uint32_t s = 0; s < u->capacity(); ++s) {
        const SlotMeta& m = u->meta(s);
        if (!m.live) continue;
        hot_large.insert(m.id);
        if (m.seq > applied) MNEMO_RETURN_IF_ERROR(index->add(m.id, std::span<const float>(u->vec(s), u->dim()), m.seq));
      }
    }
    MNEMO_RETURN_IF_ERROR(writer->call([&](Store& store) -> Status {
      MNEMO_ASSIGN_OR_RETURN(Stmt * st, store.db().prepare("SELECT DISTINCT memory_id FROM history WHERE seq > ?"));
      st->bind(1, static_cast<int64_t>(applied));
      for (;;) {
        MNEMO_ASSIGN_OR_RETURN(bool row, st->step());
        if (!row) break;
        uint64_t id = static_cast<uint64_t>(st->col_int(0));
        if (!hot_large.count(id)) MNEMO_RETURN_IF_ERROR(index->remove(id, max_seq));
      }
      st->reset();
      return Status::ok();
    }));
    MNEMO_RETURN_IF_ERROR(index->flush());
  }
  for (UserState* u : large) {
    u->in_ann = true;
    u->ann_ready = true;
  }
  ann_owner = std::move(index);
  ann.store(ann_owner.get());
  ann_thread = std::thread([this] { ann_loop(); });
#else
  (void)max_seq;
#endif
  return Status::ok();
}

void MemoryService::Impl::ann_enqueue(AnnOp op) {
  {
    std::lock_guard lock(ann_mu);
    ann_queue.push_back(std::move(op));
  }
  ann_cv.notify_one();
}

void MemoryService::Impl::ann_loop() {
#ifdef MNEMO_LTM_HAVE_ANN
  for (;;) {
    AnnOp op;
    {
      std::unique_lock lock(ann_mu);
      ann_cv.wait(lock, [this] { return ann_stop || !ann_queue.empty(); });
      if (ann_queue.empty()) return;
      op = std::move(ann_queue.front());
      ann_queue.pop_front();
    }
    if (ann_failed) continue;
    Status s;
    if (ann.load() == nullptr) {
      // The first large user: create the index.
      auto created = ann::SpannIndex::create(cfg.dir + "/ann", embedder->dim(), ann::SpannParams{});
      if (!created) {
        s = created.status();
      } else {
        ann_owner = std::move(*created);
        ann.store(ann_owner.get());  // searches read it through ann_for()
      }
    }
    if (s.is_ok()) {
      switch (op.kind) {
        case AnnOp::kAdd: s = ann.load()->add(op.id, op.vec, op.seq); break;
        case AnnOp::kRemove: s = ann.load()->remove(op.id, op.seq); break;
        case AnnOp::kBulk: {
          std::vector<std::pair<uint64_t, uint64_t>> ids;  // (id, seq)
          std::vector<float> vecs;
          {
            std::shared_lock lock(op.user->mu);
            for (uint32_t sl = 0; sl < op.user->capacity(); ++sl) {
              const SlotMeta& m = op.user->meta(sl);
              if (!m.live) continue;
              ids.emplace_back(m.id, m.seq);
              vecs.insert(vecs.end(), op.user->vec(sl), op.user->vec(sl) + op.user->dim());
            }
          }
          const size_t d = static_cast<size_t>(embedder->dim());
          for (size_t i = 0; i < ids.size() && s.is_ok(); ++i)
            s = ann.load()->add(ids[i].first, std::span<const float>(vecs.data() + i * d, d), ids[i].second);
          if (s.is_ok()) op.user->ann_ready = true;
          break;
        }
      }
    }
    if (!s.is_ok()) {
      MNEMO_LOG_WARN("ANN index: %s; large users fall back to exact search", s.message().c_str());
      ann_failed = true;
    }
  }
#endif
}

void MemoryService::Impl::ann_drain() {
  for (;;) {
    {
      std::lock_guard lock(ann_mu);
      if (ann_queue.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // The op taken last may still be running; a flush waits for it (exclusive lock inside).
  if (VectorIndex* a = ann.load()) (void)a->flush();
}

void MemoryService::Impl::ann_stop_and_flush() {
  {
    std::lock_guard lock(ann_mu);
    ann_stop = true;
  }
  ann_cv.notify_all();
  if (ann_thread.joinable()) ann_thread.join();
  if (VectorIndex* a = ann.load()) {
    Status s = a->flush();
    if (!s.is_ok()) MNEMO_LOG_WARN("ANN index flush: %s", s.message().c_str());
  }
}

}  // namespace mnemo::ltm
