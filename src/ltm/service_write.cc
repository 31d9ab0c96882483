// MemoryService: every change (add with dedup and links, update, delete, forget, restore) and the
// maintenance pass. Each change is one Writer job: SQL inside the group-commit transaction, then
// the RAM state and index files on the writer thread after the commit.
#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/strings.h"
#include "ltm/facts.h"
#include "ltm/forgetting.h"
#include "net/json_limits.h"
#include "ltm/linking.h"
#include "ltm/notes.h"
#include "ltm/service_impl.h"
#include "ltm/text.h"

namespace mnemo::ltm {
namespace {

constexpr int kMaxAttempts = 3;                     // re-plans when a duplicate vanished meanwhile
constexpr int64_t kMaxAbsTimeMs = 253402300799999;  // year 9999

bool valid_kind(const std::string& k) {
  if (k.empty() || k.size() > 32) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

bool valid_tag(const std::string& t) {
  if (t.empty() || t.size() > 64 || !valid_utf8(t)) return false;
  for (unsigned char c : t)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

void add_unique(std::vector<std::string>& v, const std::string& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

}  // namespace

// Checks the fields of an add or update that come from outside.
static Status validate_text(const std::string& text, const MemoryConfig& cfg, const char* subject) {
  if (trim(text).empty()) return invalid_argument(std::string(subject) + ": text: expected non-empty text");
  if (text.size() > cfg.max_text_bytes)
    return out_of_range(str_printf("%s: text: expected at most %zu bytes, got %zu", subject, cfg.max_text_bytes,
                                   text.size()));
  if (!valid_utf8(text)) return invalid_argument(std::string(subject) + ": text: expected UTF-8");
  return Status::ok();
}

static Status validate_tags(const std::vector<std::string>& tags, const MemoryConfig& cfg, const char* subject) {
  if (tags.size() > cfg.max_tags)
    return invalid_argument(str_printf("%s: tags: expected at most %zu, got %zu", subject, cfg.max_tags, tags.size()));
  for (const auto& t : tags)
    if (!valid_tag(t))
      return invalid_argument(str_printf("%s: tags: expected 1..64 bytes of UTF-8 without control characters, got %s",
                                         subject, quote_bytes(t).c_str()));
  return Status::ok();
}

static Expected<std::string> validate_metadata(const std::string& m, const MemoryConfig& cfg, const char* subject) {
  if (m.size() > cfg.max_metadata_bytes)
    return out_of_range(str_printf("%s: metadata: expected at most %zu bytes, got %zu", subject,
                                   cfg.max_metadata_bytes, m.size()));
  MNEMO_RETURN_IF_ERROR(net::check_json_depth(m, std::string(subject) + ": metadata"));
  nlohmann::json j = nlohmann::json::parse(m.empty() ? std::string("{}") : m, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return invalid_argument(std::string(subject) + ": metadata: expected a JSON object");
  return j.dump();
}

// ---- add ------------------------------------------------------------------------------------
//
// An add request carries one or more messages and is atomic: every message is checked before
// anything is written, and all of them are written by one writer job (one savepoint of the group
// commit), so either all are stored or none (issue 16: a 413 for the second message used to
// leave the first stored). Per message: validate and embed (Draft), then decide against the
// user's RAM state what to write (Step: an exact duplicate, a near duplicate to reword, or a new
// note), then write. The exact-duplicate decision is re-checked inside the transaction, where
// writes are serial: two identical adds racing past the RAM check store one row, not two.

struct MemoryService::Impl::AddEvolved {
  StoredMemory row;
  Prepared prep;
  std::string old_context;
};

// One message of an add, checked and embedded.
struct MemoryService::Impl::AddDraft {
  const AddRequest* req = nullptr;
  MemoryRecord rec;
  uint64_t norm_hash = 0;
  Prepared prep;
  bool infer = false;
  bool ignored = false;  // an assistant's bare acknowledgement: not stored
  UserState* user = nullptr;
};

// What the write of one message does.
struct MemoryService::Impl::AddStep {
  enum Kind { kKnown, kMergeSource, kReword, kInsert } kind = kInsert;
  AddDraft* d = nullptr;
  uint64_t id = 0;        // the duplicate (kKnown, kMergeSource, kReword); the new id (kInsert)
  std::string text;       // the memory's text after the write
  float similarity = 0;   // kReword
  std::vector<AddEvolved> evolved;
  StoredMemory row;       // the row written (kReword, kInsert)
  bool exact_found_in_tx = false;  // kInsert turned out to be an exact duplicate
};


Status MemoryService::Impl::check_add(const AddRequest& req) const {
  MNEMO_RETURN_IF_ERROR(validate_scope(req.scope, "add"));
  MNEMO_RETURN_IF_ERROR(validate_text(req.text, cfg, "add"));
  if (!req.kind.empty() && !valid_kind(req.kind))
    return invalid_argument("add: kind: expected 1..32 characters of [a-z0-9_-], got " + quote_bytes(req.kind));
  MNEMO_RETURN_IF_ERROR(validate_tags(req.tags, cfg, "add"));
  if (req.source_id.size() > 256 || !valid_utf8(req.source_id))
    return invalid_argument("add: source_id: expected up to 256 bytes of UTF-8");
  if (req.event_time_ms < -kMaxAbsTimeMs || req.event_time_ms > kMaxAbsTimeMs)
    return invalid_argument("add: event_time: expected a time between the years -5000 and 9999");
  if (req.role.size() > 32) return invalid_argument("add: role: expected at most 32 bytes");
  return validate_metadata(req.metadata_json, cfg, "add").status();
}

Expected<AddResult> MemoryService::Impl::add(const AddRequest& req) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<AddResult> r, add_many({req}));
  return r.at(0);
}

Expected<std::vector<AddResult>> MemoryService::Impl::add_many(const std::vector<AddRequest>& reqs) {
  if (reqs.empty()) return invalid_argument("add: expected at least one message");
  for (size_t i = 0; i < reqs.size(); ++i) {
    Status s = check_add(reqs[i]);
    if (!s.is_ok())
      return reqs.size() == 1 ? s : Status(s.code(), str_printf("message %zu of %zu: ", i + 1, reqs.size()) + s.message());
  }
  const int64_t now = now_ms();
  std::vector<AddDraft> drafts(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    AddDraft& d = drafts[i];
    d.req = &reqs[i];
    if (reqs[i].role == "assistant" && is_acknowledgement(reqs[i].text)) {
      d.ignored = true;
      continue;
    }
    MNEMO_RETURN_IF_ERROR(draft_add(reqs[i], now, d.rec, d.norm_hash, d.prep, d.infer));
    d.user = &user_for_write(d.rec.scope.user_id);
  }
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    std::vector<AddStep> steps;
    Status planned = Status::ok();
    for (AddDraft& d : drafts) {
      if (d.ignored) continue;
      steps.emplace_back();
      planned = plan_add(d, steps.back());
      if (!planned.is_ok()) break;
    }
    if (planned.code() == StatusCode::kNotFound) continue;  // a duplicate vanished: plan again
    MNEMO_RETURN_IF_ERROR(planned);
    Status s = write_steps(steps, now);
    if (s.code() == StatusCode::kNotFound) continue;  // rolled back as a whole: plan again
    MNEMO_RETURN_IF_ERROR(s);
    std::vector<AddResult> out;
    size_t k = 0;
    for (const AddDraft& d : drafts) {
      if (d.ignored) {
        out.push_back({0, AddEvent::kNone, d.req->text});
        continue;
      }
      const AddStep& st = steps[k++];
      const bool stored = st.kind == AddStep::kInsert && !st.exact_found_in_tx;
      out.push_back({st.id, stored ? AddEvent::kAdd : st.kind == AddStep::kReword ? AddEvent::kUpdate : AddEvent::kNone,
                     st.text});
    }
    return out;
  }
  return internal_error("add: the memories changed concurrently too often; retry");
}

// Validation done: the record, its normal-form hash and its RAM form (embedded), with the LLM's
// note fields when inferring.
Status MemoryService::Impl::draft_add(const AddRequest& req, int64_t now, MemoryRecord& rec, uint64_t& norm_hash,
                                      Prepared& prep, bool& infer) {
  MNEMO_ASSIGN_OR_RETURN(std::string metadata, validate_metadata(req.metadata_json, cfg, "add"));
  rec.scope = req.scope;
  rec.text = trim(req.text);
  rec.kind = req.kind;
  for (const auto& t : req.tags) add_unique(rec.tags, t);
  rec.metadata_json = metadata;
  rec.event_time_ms = req.event_time_ms != 0 ? req.event_time_ms : now;
  rec.created_ms = rec.updated_ms = now;
  rec.strength = 1.0;
  rec.last_access_ms = rec.event_time_ms;  // MemoryBank: t counts from the memory's own date
  if (!req.source_id.empty()) rec.sources.push_back(req.source_id);
  infer = cfg.llm.enabled() && req.infer;
  if (infer) {
    auto nf = llm_note_fields(cfg.llm, rec.text);
    if (nf) {
      rec.keywords = nf->keywords;
      rec.context = nf->context;
      for (const auto& t : nf->tags)
        if (valid_tag(t) && rec.tags.size() < cfg.max_tags) add_unique(rec.tags, t);
      if (rec.kind.empty() && !nf->kind.empty()) rec.kind = nf->kind;
    } else {
      MNEMO_LOG_WARN("add: note analysis by the LLM failed, storing without it: %s", nf.status().message().c_str());
    }
  }
  if (rec.kind.empty()) rec.kind = "fact";
  norm_hash = fnv1a64(normal_form(rec.text));
  MNEMO_ASSIGN_OR_RETURN(prep, prepare(rec, norm_hash, 0, nullptr));
  return Status::ok();
}

// Decides one message's write from the user's RAM state (links, duplicates). kNotFound: a
// duplicate vanished meanwhile, plan again.
Status MemoryService::Impl::plan_add(AddDraft& d, AddStep& st) {
  st.d = &d;
  MemoryRecord& rec = d.rec;
  UserState& u = *d.user;
  LinkPlan plan;
  {
    std::shared_lock lock(u.mu);
    if (rec.keywords.empty()) {
      std::vector<std::string> words = tokenize(rec.text);
      std::vector<uint32_t> ids;
      for (const auto& w : words) ids.push_back(terms.intern(porter_stem(w)));
      for (const auto& [term, word] : rare_keywords(u, words, ids, kDefaultKeywords)) {
        rec.keywords.push_back(word);
        d.prep.meta.keywords.push_back(term);
      }
      std::sort(d.prep.meta.keywords.begin(), d.prep.meta.keywords.end());
      d.prep.meta.keywords.erase(std::unique(d.prep.meta.keywords.begin(), d.prep.meta.keywords.end()),
                                 d.prep.meta.keywords.end());
    }
    plan = plan_links(u, d.prep.meta, d.prep.vec.data(), cfg, ann_for(u));
  }
  if (plan.duplicate_of != 0 && plan.exact) {
    st.id = plan.duplicate_of;
    if (!d.req->source_id.empty()) {
      st.kind = AddStep::kMergeSource;
      return Status::ok();
    }
    st.kind = AddStep::kKnown;
    MNEMO_ASSIGN_OR_RETURN(Lease r, reader());
    MNEMO_ASSIGN_OR_RETURN(StoredMemory row, r->get(st.id));
    st.text = row.rec.text;
    return Status::ok();
  }
  if (plan.duplicate_of != 0) {
    st.kind = AddStep::kReword;
    st.id = plan.duplicate_of;
    st.similarity = plan.duplicate_similarity;
    return Status::ok();
  }
  st.kind = AddStep::kInsert;
  rec.links = plan.links;
  if (d.infer && !plan.links.empty()) plan_evolution(d, st);
  d.prep.meta.links = rec.links;
  return Status::ok();
}

// A-MEM memory evolution (with an LLM): the new note's links and tags, its neighbours' context.
void MemoryService::Impl::plan_evolution(AddDraft& d, AddStep& st) {
  MemoryRecord& rec = d.rec;
  auto r = reader();
  if (!r) return;
  std::vector<NeighbourNote> nbs;
  std::vector<StoredMemory> rows;
  for (uint64_t nid : rec.links) {
    auto row = (*r)->get(nid);
    if (!row || row->rec.tier != Tier::kHot) continue;
    nbs.push_back({nid, row->rec.text, row->rec.context, row->rec.tags});
    rows.push_back(std::move(*row));
  }
  NoteFields nf{rec.keywords, rec.tags, rec.context, rec.kind};
  auto ev = llm_evolution(cfg.llm, rec.text, nf, nbs);
  if (!ev) {
    MNEMO_LOG_WARN("add: memory evolution by the LLM failed, skipped: %s", ev.status().message().c_str());
    return;
  }
  if (!ev->evolve) return;
  std::vector<uint64_t> links = ev->connect;
  for (uint64_t l : rec.links)
    if (std::find(links.begin(), links.end(), l) == links.end()) links.push_back(l);
  rec.links = links;
  for (const auto& t : ev->note_tags)
    if (valid_tag(t) && rec.tags.size() < cfg.max_tags) add_unique(rec.tags, t);
  for (const auto& upd : ev->updates) {
    for (auto& row : rows) {
      if (row.rec.id != upd.id) continue;
      AddEvolved e;
      e.old_context = row.rec.context;
      e.row = row;
      e.row.rec.context = upd.context;
      e.row.rec.tags.clear();
      for (const auto& t : upd.tags)
        if (valid_tag(t) && e.row.rec.tags.size() < cfg.max_tags) add_unique(e.row.rec.tags, t);
      auto p = prepare(e.row.rec, e.row.norm_hash, 0, nullptr);
      if (!p) break;
      e.prep = std::move(*p);
      st.evolved.push_back(std::move(e));
    }
  }
  d.prep.meta.tags.clear();
  for (const auto& t : rec.tags) d.prep.meta.tags.push_back(labels.intern("t:" + t));
}

// Every step of one add in one writer job: all committed, or none.
Status MemoryService::Impl::write_steps(std::vector<AddStep>& steps, int64_t now) {
  bool any = false;
  for (const AddStep& st : steps) any = any || st.kind != AddStep::kKnown;
  if (!any) return Status::ok();
  return writer->run({[&](Store& store, uint64_t& seq) -> Status {
                        for (AddStep& st : steps) MNEMO_RETURN_IF_ERROR(apply_step(store, seq, st, now));
                        return Status::ok();
                      },
                      [&] {
                        for (AddStep& st : steps) after_step(st);
                      }});
}

Status MemoryService::Impl::apply_step(Store& store, uint64_t& seq, AddStep& st, int64_t now) {
  const AddRequest& req = *st.d->req;
  MemoryRecord& rec = st.d->rec;
  switch (st.kind) {
    case AddStep::kKnown: return Status::ok();
    case AddStep::kMergeSource: {
      // Exact duplicate with a new source id: nothing new to store but the source.
      MNEMO_ASSIGN_OR_RETURN(StoredMemory row, store.get(st.id));
      st.text = row.rec.text;
      return merge_source(store, seq, row, req.source_id, now);
    }
    case AddStep::kReword: {
      // Near duplicate: the new wording replaces the old one (history keeps both).
      MNEMO_ASSIGN_OR_RETURN(StoredMemory row, store.get(st.id));
      if (row.rec.tier != Tier::kHot) return not_found("duplicate went cold");
      std::string old_text = row.rec.text;
      row.rec.text = rec.text;
      row.rec.context = rec.context;
      row.rec.keywords = rec.keywords;
      for (const auto& t : rec.tags) add_unique(row.rec.tags, t);
      for (const auto& src : rec.sources) add_unique(row.rec.sources, src);
      row.rec.event_time_ms = rec.event_time_ms;
      row.rec.updated_ms = now;
      row.norm_hash = st.d->norm_hash;
      row.seq = seq++;
      MNEMO_RETURN_IF_ERROR(store.update(row));
      nlohmann::json d = {{"reason", "near duplicate"}, {"similarity", st.similarity}};
      if (!req.source_id.empty()) d["source"] = req.source_id;
      MNEMO_RETURN_IF_ERROR(
          store.add_history(row.seq, st.id, row.rec.scope.user_id, "UPDATE", old_text, row.rec.text, d.dump(), now));
      st.text = row.rec.text;
      st.row = std::move(row);
      return Status::ok();
    }
    case AddStep::kInsert: return apply_insert(store, seq, st, now);
  }
  return internal_error("add: unknown step");
}

Status MemoryService::Impl::merge_source(Store& store, uint64_t& seq, StoredMemory& row, const std::string& source,
                                         int64_t now) {
  if (source.empty() || std::find(row.rec.sources.begin(), row.rec.sources.end(), source) != row.rec.sources.end())
    return Status::ok();
  row.rec.sources.push_back(source);
  // The indexed content is unchanged: the memory keeps its seq.
  MNEMO_RETURN_IF_ERROR(store.update(row));
  nlohmann::json d = {{"source", source}, {"reason", "exact duplicate"}};
  return store.add_history(seq++, row.rec.id, row.rec.scope.user_id, "MERGE", row.rec.text, row.rec.text, d.dump(),
                           now);
}

Status MemoryService::Impl::apply_insert(Store& store, uint64_t& seq, AddStep& st, int64_t now) {
  const AddRequest& req = *st.d->req;
  const MemoryRecord& rec = st.d->rec;
  // The RAM check ran without the write lock: an identical add may have been written since (or
  // earlier in this transaction). Writes are serial here, so this check is final.
  MNEMO_ASSIGN_OR_RETURN(std::vector<StoredMemory> same, store.hot_with_hash(rec.scope.user_id, st.d->norm_hash));
  const std::string norm = normal_form(rec.text);
  for (StoredMemory& row : same) {
    if (row.rec.scope.agent_id != rec.scope.agent_id || row.rec.kind != rec.kind || normal_form(row.rec.text) != norm)
      continue;
    st.exact_found_in_tx = true;
    st.id = row.rec.id;
    st.text = row.rec.text;
    return merge_source(store, seq, row, req.source_id, now);
  }
  StoredMemory row;
  row.rec = rec;
  row.norm_hash = st.d->norm_hash;
  row.seq = seq++;
  MNEMO_ASSIGN_OR_RETURN(row.rec.id, store.insert(row));
  nlohmann::json d = {{"links", rec.links}};
  if (!req.source_id.empty()) d["source"] = req.source_id;
  MNEMO_RETURN_IF_ERROR(
      store.add_history(row.seq, row.rec.id, rec.scope.user_id, "ADD", "", rec.text, d.dump(), now));
  for (auto& e : st.evolved) {
    auto cur = store.get(e.row.rec.id);
    if (!cur || cur->rec.tier != Tier::kHot) continue;  // gone meanwhile: nothing to evolve
    StoredMemory up = std::move(*cur);
    std::string old_ctx = up.rec.context;
    up.rec.context = e.row.rec.context;
    up.rec.tags = e.row.rec.tags;
    up.rec.updated_ms = now;
    up.seq = seq++;
    MNEMO_RETURN_IF_ERROR(store.update(up));
    nlohmann::json ed = {{"by", row.rec.id},
                         {"old_context", old_ctx},
                         {"new_context", up.rec.context},
                         {"new_tags", up.rec.tags}};
    MNEMO_RETURN_IF_ERROR(store.add_history(up.seq, up.rec.id, up.rec.scope.user_id, "EVOLVE", up.rec.text,
                                            up.rec.text, ed.dump(), now));
    e.row = std::move(up);
  }
  st.id = row.rec.id;
  st.text = rec.text;
  st.row = std::move(row);
  return Status::ok();
}

// RAM state after the commit (writer thread).
void MemoryService::Impl::after_step(AddStep& st) {
  UserState& u = *st.d->user;
  const Prepared& prep = st.d->prep;
  auto insert = [&](const StoredMemory& row, const Prepared& from) {
    auto p = prepare(row.rec, row.norm_hash, row.seq, &from.vec);
    if (!p) return;
    p->meta.corpus_n = from.meta.corpus_n;
    ram_insert(u, std::move(*p));
  };
  if (st.kind == AddStep::kReword) insert(st.row, prep);
  if (st.kind != AddStep::kInsert || st.exact_found_in_tx) return;
  insert(st.row, prep);
  for (auto& e : st.evolved)
    if (e.row.seq != 0) insert(e.row, e.prep);
}

Expected<MemoryRecord> MemoryService::Impl::update(const UpdateRequest& req) {
  MNEMO_RETURN_IF_ERROR(validate_scope(req.scope, "update"));
  if (!req.text.empty()) MNEMO_RETURN_IF_ERROR(validate_text(req.text, cfg, "update"));
  if (req.tags) MNEMO_RETURN_IF_ERROR(validate_tags(*req.tags, cfg, "update"));
  std::string metadata;
  if (!req.metadata_json.empty()) {
    MNEMO_ASSIGN_OR_RETURN(metadata, validate_metadata(req.metadata_json, cfg, "update"));
  }
  MemoryRecord cur;
  {
    MNEMO_ASSIGN_OR_RETURN(Lease r, reader());
    auto row = r->get(req.id);
    if (!row || !scope_matches(req.scope, row->rec.scope))
      return not_found(str_printf("memory %llu: not found for this user", static_cast<unsigned long long>(req.id)));
    cur = row->rec;
  }
  const int64_t now = now_ms();
  MemoryRecord want = cur;
  if (!req.text.empty()) {
    want.text = trim(req.text);
    want.keywords.clear();
    for (const auto& w : tokenize(want.text)) {
      if (want.keywords.size() >= static_cast<size_t>(kDefaultKeywords)) break;
      if (w.size() >= 3) add_unique(want.keywords, w);
    }
  }
  if (req.tags) {
    want.tags.clear();
    for (const auto& t : *req.tags) add_unique(want.tags, t);
  }
  const uint64_t norm_hash = fnv1a64(normal_form(want.text));
  std::optional<Prepared> prep;
  if (cur.tier == Tier::kHot) {
    MNEMO_ASSIGN_OR_RETURN(Prepared p, prepare(want, norm_hash, 0, nullptr));
    prep = std::move(p);
  }
  auto out = std::make_shared<StoredMemory>();
  UserState& u = user_for_write(cur.scope.user_id);
  Status s = writer->run(
      {[&, out](Store& store, uint64_t& seq) -> Status {
         MNEMO_ASSIGN_OR_RETURN(StoredMemory row, store.get(req.id));
         if (!scope_matches(req.scope, row.rec.scope)) return not_found("memory: not found for this user");
         std::string old_text = row.rec.text;
         nlohmann::json fields = nlohmann::json::array();
         if (!req.text.empty()) {
           row.rec.text = want.text;
           row.rec.keywords = want.keywords;
           row.norm_hash = norm_hash;
           fields.push_back("text");
         }
         if (req.tags) {
           row.rec.tags = want.tags;
           fields.push_back("tags");
         }
         if (!metadata.empty()) {
           row.rec.metadata_json = metadata;
           fields.push_back("metadata");
         }
         row.rec.updated_ms = now;
         row.seq = seq++;
         MNEMO_RETURN_IF_ERROR(store.update(row));
         MNEMO_RETURN_IF_ERROR(store.add_history(row.seq, row.rec.id, row.rec.scope.user_id, "UPDATE", old_text,
                                                 row.rec.text, nlohmann::json({{"fields", fields}}).dump(), now));
         *out = std::move(row);
         return Status::ok();
       },
       [&, out] {
         if (out->rec.tier != Tier::kHot || !prep) return;
         auto p = prepare(out->rec, out->norm_hash, out->seq, &prep->vec);
         if (!p) return;
         p->meta.corpus_n = prep->meta.corpus_n;
         {
           // Keep the forgetting state the RAM holds (recalls not yet written).
           std::shared_lock lock(u.mu);
           uint32_t slot = u.slot_of(out->rec.id);
           if (slot != UINT32_MAX) {
             p->meta.strength = u.meta(slot).strength;
             p->meta.last_access_ms = u.meta(slot).last_access_ms;
             p->meta.access_count = u.meta(slot).access_count;
           }
         }
         ram_insert(u, std::move(*p));
       }});
  MNEMO_RETURN_IF_ERROR(s);
  MemoryRecord rec = out->rec;
  overlay(rec, now);
  return rec;
}

Status MemoryService::Impl::remove(const Scope& scope, uint64_t id) {
  MNEMO_RETURN_IF_ERROR(validate_scope(scope, "delete"));
  const int64_t now = now_ms();
  std::string user = scope.user_id;
  auto tier = std::make_shared<Tier>(Tier::kHot);
  auto seq_used = std::make_shared<uint64_t>(0);
  Status s = writer->run({[&, tier, seq_used](Store& store, uint64_t& seq) -> Status {
                            auto row = store.get(id);
                            if (!row || !scope_matches(scope, row->rec.scope))
                              return not_found(str_printf("memory %llu: not found for this user",
                                                          static_cast<unsigned long long>(id)));
                            *tier = row->rec.tier;
                            MNEMO_RETURN_IF_ERROR(store.erase(id));
                            *seq_used = seq;
                            return store.add_history(seq++, id, row->rec.scope.user_id, "DELETE", row->rec.text, "",
                                                     "{}", now);
                          },
                          [&, tier, seq_used] {
                            if (*tier != Tier::kHot) return;
                            if (UserState* u = find_user(user)) ram_erase(*u, id, *seq_used);
                          }});
  return s;
}

Expected<int64_t> MemoryService::Impl::remove_all(const Scope& scope) {
  MNEMO_RETURN_IF_ERROR(validate_scope(scope, "delete_all"));
  const int64_t now = now_ms();
  auto removed = std::make_shared<std::vector<std::pair<uint64_t, uint64_t>>>();  // (id, seq) of hot ones
  auto count = std::make_shared<int64_t>(0);
  Status s = writer->run({[&, removed, count](Store& store, uint64_t& seq) -> Status {
                            uint64_t after = 0;
                            for (;;) {
                              MNEMO_ASSIGN_OR_RETURN(auto rows, store.list_user(scope.user_id, Tier::kAll, after, 1000));
                              if (rows.empty()) break;
                              after = rows.back().rec.id;
                              for (const auto& row : rows) {
                                if (!scope_matches(scope, row.rec.scope)) continue;
                                MNEMO_RETURN_IF_ERROR(store.erase(row.rec.id));
                                if (row.rec.tier == Tier::kHot) removed->emplace_back(row.rec.id, seq);
                                MNEMO_RETURN_IF_ERROR(store.add_history(seq++, row.rec.id, row.rec.scope.user_id,
                                                                        "DELETE", row.rec.text, "", "{}", now));
                                ++*count;
                              }
                            }
                            return Status::ok();
                          },
                          [&, removed] {
                            UserState* u = find_user(scope.user_id);
                            if (!u) return;
                            for (const auto& [id, seq] : *removed) ram_erase(*u, id, seq);
                          }});
  MNEMO_RETURN_IF_ERROR(s);
  return *count;
}

Expected<ForgetResult> MemoryService::Impl::forget(const ForgetRequest& req) {
  MNEMO_RETURN_IF_ERROR(validate_scope(req.scope, "forget"));
  if (!(req.threshold > 0.0 && req.threshold <= 1.0))
    return invalid_argument(str_printf("forget: threshold: expected a retention in (0, 1], got %g", req.threshold));
  const int64_t now = req.now_ms != 0 ? req.now_ms : now_ms();
  ForgetResult res;
  UserState* u = find_user(req.scope.user_id);
  if (!u) return res;
  struct Cand {
    uint64_t id;
    double r, strength;
    int64_t last_access, count;
  };
  std::vector<Cand> cands;
  {
    std::shared_lock lock(u->mu);
    SlotFilter f = make_filter(Filter{req.scope});
    for (uint32_t s = 0; s < u->capacity(); ++s) {
      const SlotMeta& m = u->meta(s);
      if (!f.matches(m)) continue;
      ++res.scanned;
      double r = retention(m.strength, m.last_access_ms, now, cfg.forget_k_days);
      if (r < req.threshold) cands.push_back({m.id, r, m.strength, m.last_access_ms, m.access_count});
    }
  }
  std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) { return a.id < b.id; });
  if (req.dry_run) {
    for (const auto& c : cands) res.moved.push_back(c.id);
    return res;
  }
  auto moved = std::make_shared<std::vector<std::pair<uint64_t, uint64_t>>>();
  Status s = writer->run({[&, moved](Store& store, uint64_t& seq) -> Status {
                            for (const auto& c : cands) {
                              Status st = store.set_tier(c.id, Tier::kCold, seq);
                              if (st.code() == StatusCode::kNotFound) continue;  // deleted meanwhile
                              MNEMO_RETURN_IF_ERROR(st);
                              MNEMO_RETURN_IF_ERROR(store.update_access(c.id, c.strength, c.last_access, c.count));
                              nlohmann::json d = {{"retention", c.r}, {"strength", c.strength},
                                                  {"threshold", req.threshold}, {"now", now}};
                              MNEMO_RETURN_IF_ERROR(
                                  store.add_history(seq, c.id, req.scope.user_id, "FORGET", "", "", d.dump(), now));
                              moved->emplace_back(c.id, seq++);
                            }
                            return Status::ok();
                          },
                          [&, moved] {
                            for (const auto& [id, seq] : *moved) ram_erase(*u, id, seq);
                          }});
  MNEMO_RETURN_IF_ERROR(s);
  for (const auto& [id, seq] : *moved) res.moved.push_back(id);
  return res;
}

Expected<MemoryRecord> MemoryService::Impl::restore(const Scope& scope, uint64_t id) {
  MNEMO_RETURN_IF_ERROR(validate_scope(scope, "restore"));
  MemoryRecord cur;
  uint64_t norm_hash = 0;
  {
    MNEMO_ASSIGN_OR_RETURN(Lease r, reader());
    auto row = r->get(id);
    if (!row || !scope_matches(scope, row->rec.scope))
      return not_found(str_printf("memory %llu: not found for this user", static_cast<unsigned long long>(id)));
    if (row->rec.tier != Tier::kCold)
      return invalid_argument(str_printf("restore: memory %llu: expected a cold memory, it is hot",
                                         static_cast<unsigned long long>(id)));
    cur = row->rec;
    norm_hash = row->norm_hash;
  }
  const int64_t now = now_ms();
  MNEMO_ASSIGN_OR_RETURN(Prepared prep, prepare(cur, norm_hash, 0, nullptr));
  auto out = std::make_shared<StoredMemory>();
  UserState& u = user_for_write(cur.scope.user_id);
  Status s = writer->run({[&, out](Store& store, uint64_t& seq) -> Status {
                            MNEMO_ASSIGN_OR_RETURN(StoredMemory row, store.get(id));
                            if (row.rec.tier != Tier::kCold) return invalid_argument("restore: memory is not cold");
                            RecallUpdate ru = on_recall(row.rec.strength, row.rec.access_count, now);
                            row.rec.strength = ru.strength;
                            row.rec.last_access_ms = ru.last_access_ms;
                            row.rec.access_count = ru.access_count;
                            row.rec.tier = Tier::kHot;
                            row.seq = seq++;
                            MNEMO_RETURN_IF_ERROR(store.update(row));
                            MNEMO_RETURN_IF_ERROR(store.add_history(row.seq, id, row.rec.scope.user_id, "RESTORE", "",
                                                                    "", "{}", now));
                            *out = std::move(row);
                            return Status::ok();
                          },
                          [&, out] {
                            auto p = prepare(out->rec, out->norm_hash, out->seq, &prep.vec);
                            if (!p) return;
                            p->meta.corpus_n = prep.meta.corpus_n;
                            ram_insert(u, std::move(*p));
                          }});
  MNEMO_RETURN_IF_ERROR(s);
  MemoryRecord rec = out->rec;
  overlay(rec, now);
  return rec;
}

Status MemoryService::Impl::maintain() {
  std::lock_guard serial(maintain_mu);
  // Re-embed vectors whose IDF statistics are stale: the corpus has at least doubled since.
  const uint64_t n = embedder->corpus_size();
  std::vector<UserState*> all;
  {
    std::shared_lock lock(users_mu);
    for (auto& [name, u] : users) all.push_back(u.get());
  }
  if (n > 0) {
    for (UserState* u : all) {
      struct Stale {
        uint64_t id, seq;
        std::string text;
      };
      std::vector<Stale> stale;
      {
        std::shared_lock lock(u->mu);
        for (uint32_t s = 0; s < u->capacity(); ++s) {
          const SlotMeta& m = u->meta(s);
          if (m.live && m.corpus_n * 2 < n) stale.push_back({m.id, m.seq, m.text});
        }
      }
      for (size_t b = 0; b < stale.size(); b += 256) {
        std::vector<std::string> texts;
        size_t e = std::min(stale.size(), b + 256);
        for (size_t i = b; i < e; ++i) texts.push_back(stale[i].text);
        MNEMO_ASSIGN_OR_RETURN(auto vecs, embedder->embed(texts));
        std::unique_lock lock(u->mu);
        std::lock_guard vl(vfile_mu);
        for (size_t i = b; i < e; ++i) {
          uint32_t s = u->slot_of(stale[i].id);
          if (s == UINT32_MAX || u->meta(s).seq != stale[i].seq) continue;
          u->set_vector(s, vecs[i - b]);
          u->meta(s).corpus_n = n;
          if (vfile) MNEMO_RETURN_IF_ERROR(vfile->put(stale[i].id, stale[i].seq, n, vecs[i - b]));
          if (u->in_ann) ann_enqueue({AnnOp::kAdd, stale[i].id, stale[i].seq, vecs[i - b], u});
        }
      }
    }
  }
  // Compact the vector file when most of its records are dead.
  std::lock_guard vl(vfile_mu);
  if (vfile && vfile->records() > 2 * vfile_live.load() + 1024) {
    std::unordered_map<uint64_t, VectorFile::Entry> live;
    for (UserState* u : all) {
      std::shared_lock lock(u->mu);
      for (uint32_t s = 0; s < u->capacity(); ++s) {
        const SlotMeta& m = u->meta(s);
        if (!m.live) continue;
        VectorFile::Entry e;
        e.seq = m.seq;
        e.corpus_n = m.corpus_n;
        e.vec.assign(u->vec(s), u->vec(s) + u->dim());
        live.emplace(m.id, std::move(e));
      }
    }
    vfile.reset();
    MNEMO_ASSIGN_OR_RETURN(vfile, VectorFile::rewrite(vec_path, embedder->dim(), embedder->name(), live));
    vfile_live = live.size();
  }
  changes_since_maint = 0;
  ann_drain();
  return Status::ok();
}

}  // namespace mnemo::ltm
