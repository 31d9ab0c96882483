// The memory service through its public API: CRUD and history, dedup, links, filters, user
// isolation, forgetting and the cold tier, persistence and repair of index files, bad databases.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>

#include "mnemo/memory.h"
#include "test_util.h"

namespace mnemo::ltm {
namespace {

constexpr int64_t kDay = 86400000;

MemoryConfig config_for(const std::string& dir) {
  MemoryConfig c;
  c.dir = dir;
  c.embedder.dim = 128;
  c.background_maintenance = false;
  return c;
}

std::unique_ptr<MemoryService> open_or_die(const MemoryConfig& c) {
  auto s = MemoryService::open(c);
  EXPECT_TRUE(s) << s.status().message();
  return s ? std::move(*s) : nullptr;
}

AddResult add(MemoryService& s, const std::string& user, const std::string& text, const std::string& kind = "fact",
              std::vector<std::string> tags = {}, int64_t time = 0, const std::string& session = "") {
  AddRequest a;
  a.scope = {user, "", session};
  a.text = text;
  a.kind = kind;
  a.tags = std::move(tags);
  a.event_time_ms = time;
  auto r = s.add(a);
  EXPECT_TRUE(r) << r.status().message();
  return r ? *r : AddResult{};
}

std::vector<SearchHit> search(MemoryService& s, const std::string& user, const std::string& q, int k = 10,
                              Filter f = {}) {
  SearchRequest r;
  r.query = q;
  r.filter = std::move(f);
  r.filter.scope.user_id = user;
  r.k = k;
  auto h = s.search(r);
  EXPECT_TRUE(h) << h.status().message();
  return h ? *h : std::vector<SearchHit>{};
}

TEST(Service, AddGetSearchUpdateDeleteHistory) {
  auto svc = open_or_die(config_for(test::temp_dir()));
  AddResult a = add(*svc, "alice", "Alice adopted a beagle named Max in March");
  add(*svc, "alice", "Alice prefers green tea to coffee", "preference");
  add(*svc, "alice", "The quarterly tax forms are due in April");
  EXPECT_EQ(a.event, AddEvent::kAdd);
  auto got = svc->get({"alice"}, a.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->text, "Alice adopted a beagle named Max in March");
  EXPECT_EQ(got->strength, 1.0);
  EXPECT_FALSE(got->keywords.empty());

  auto hits = search(*svc, "alice", "what dog did alice adopt", 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].memory.id, a.id);
  // In a store of three memories "what", "dog" and "did" carry most of the query's weight and are
  // not in the memory: found, but not a recall (Writes.OnlyMatchingHitsAreRecalls).
  EXPECT_FALSE(hits[0].matched);
  EXPECT_EQ(svc->get({"alice"}, a.id)->strength, 1.0);
  hits = search(*svc, "alice", "the beagle alice adopted", 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].memory.id, a.id);
  EXPECT_TRUE(hits[0].matched);
  // A search that matched is a recall: S += 1 (visible at once).
  EXPECT_EQ(svc->get({"alice"}, a.id)->strength, 2.0);

  UpdateRequest u;
  u.scope = {"alice"};
  u.id = a.id;
  u.text = "Alice adopted a beagle named Max in May";
  u.tags = std::vector<std::string>{"pets"};
  auto up = svc->update(u);
  ASSERT_TRUE(up) << up.status().message();
  EXPECT_EQ(up->tags, std::vector<std::string>{"pets"});
  EXPECT_EQ(search(*svc, "alice", "beagle may", 1)[0].memory.text, "Alice adopted a beagle named Max in May");

  ASSERT_TRUE(svc->remove({"alice"}, a.id).is_ok());
  EXPECT_EQ(svc->get({"alice"}, a.id).status().code(), StatusCode::kNotFound);
  for (const auto& h : search(*svc, "alice", "beagle", 10)) EXPECT_NE(h.memory.id, a.id);

  auto hist = svc->history({"alice"}, a.id);
  ASSERT_TRUE(hist) << hist.status().message();
  ASSERT_EQ(hist->size(), 3u);
  EXPECT_EQ((*hist)[0].event, "ADD");
  EXPECT_EQ((*hist)[1].event, "UPDATE");
  EXPECT_EQ((*hist)[1].old_text, "Alice adopted a beagle named Max in March");
  EXPECT_EQ((*hist)[2].event, "DELETE");
  EXPECT_EQ(svc->history({"bob"}, a.id).status().code(), StatusCode::kNotFound);
}

TEST(Service, ExactAndNearDuplicatesUpdateInsteadOfAdding) {
  auto svc = open_or_die(config_for(test::temp_dir()));
  AddResult a = add(*svc, "u", "Caroline went to the LGBTQ support group on Sunday");
  AddRequest same;
  same.scope = {"u"};
  same.text = "caroline went to the LGBTQ support group on sunday!";
  same.kind = "fact";
  same.source_id = "D1:3";
  auto r = svc->add(same);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->event, AddEvent::kNone);
  EXPECT_EQ(r->id, a.id);
  EXPECT_EQ(svc->get({"u"}, a.id)->sources, std::vector<std::string>{"D1:3"});
  AddResult near = add(*svc, "u", "Caroline went to the LGBTQ support group on Sunday evening");
  EXPECT_EQ(near.event, AddEvent::kUpdate);
  EXPECT_EQ(near.id, a.id);
  EXPECT_EQ(svc->get({"u"}, a.id)->text, "Caroline went to the LGBTQ support group on Sunday evening");
  AddResult other = add(*svc, "u", "Melanie painted a sunrise over the lake");
  EXPECT_EQ(other.event, AddEvent::kAdd);
  auto list = svc->list(ListRequest{Filter{{"u"}}});
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2u);
  auto hist = svc->history({"u"}, a.id);
  ASSERT_TRUE(hist);
  EXPECT_EQ(hist->back().event, "UPDATE");
}

// Link and dedup candidates are the user's nearest memories by cosine (32 of them): among 300
// other memories, the near duplicate and the related note are still found.
TEST(Service, DuplicatesAndLinksFoundAmongManyMemories) {
  auto svc = open_or_die(config_for(test::temp_dir()));
  const char* subjects[] = {"The gardener", "My neighbour", "A tall stranger", "The old captain", "Her cousin"};
  const char* verbs[] = {"repaired", "painted", "sold", "borrowed", "photographed", "cleaned"};
  const char* objects[] = {"the red bicycle", "a wooden fence", "the kitchen window", "an iron gate",
                           "the blue boat", "a stone bench", "the garage door", "a brass lamp", "the garden shed",
                           "a leather chair"};
  int n = 0;
  for (const char* sub : subjects)
    for (const char* v : verbs)
      for (const char* o : objects) {
        EXPECT_EQ(add(*svc, "u", std::string(sub) + " " + v + " " + o).event, AddEvent::kAdd);
        ++n;
      }
  ASSERT_EQ(n, 300);
  AddResult a = add(*svc, "u", "Caroline went to the LGBTQ support group on Sunday");
  AddResult near = add(*svc, "u", "Caroline went to the LGBTQ support group on Sunday evening");
  EXPECT_EQ(near.event, AddEvent::kUpdate);
  EXPECT_EQ(near.id, a.id);
  AddResult related = add(*svc, "u", "The LGBTQ support group gave Caroline courage");
  EXPECT_EQ(related.event, AddEvent::kAdd);
  auto rec = svc->get({"u"}, related.id);
  ASSERT_TRUE(rec);
  ASSERT_FALSE(rec->links.empty());
  EXPECT_EQ(rec->links[0], a.id);
  auto list = svc->list(ListRequest{Filter{{"u"}}, 1000});
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 302u);
}

TEST(Service, NewNotesLinkToSimilarOnes) {
  auto svc = open_or_die(config_for(test::temp_dir()));
  AddResult a = add(*svc, "u", "Melanie loves painting landscapes with watercolors");
  add(*svc, "u", "The car needs new tires before winter");
  AddResult c = add(*svc, "u", "Melanie showed me her new watercolor painting of a lake");
  auto rec = svc->get({"u"}, c.id);
  ASSERT_TRUE(rec);
  ASSERT_FALSE(rec->links.empty());
  EXPECT_EQ(rec->links[0], a.id);
  // Expansion brings a linked note along with a hit.
  SearchRequest s;
  s.query = "new watercolor of a lake";
  s.filter.scope = {"u"};
  s.k = 1;
  s.expand_links = true;
  auto hits = svc->search(s);
  ASSERT_TRUE(hits);
  ASSERT_GE(hits->size(), 2u);
  EXPECT_TRUE((*hits)[1].via_link);
}

TEST(Service, FiltersAreExactAndFilledToK) {
  auto svc = open_or_die(config_for(test::temp_dir()));
  std::mt19937 rng(static_cast<uint32_t>(test::test_seed()));
  const std::vector<std::string> kinds = {"fact", "event", "preference"};
  const std::vector<std::string> tags = {"work", "home", "travel", "food"};
  const std::vector<std::string> words = {"meeting", "dinner", "flight", "garden", "report", "pasta", "train",
                                          "budget",  "movie",  "hiking", "coffee", "museum"};
  struct Row {
    uint64_t id;
    std::string kind, tag;
    int64_t t;
  };
  std::vector<Row> rows;
  for (int i = 0; i < 120; ++i) {
    std::string text = "note " + std::to_string(i);
    for (int w = 0; w < 4; ++w) text += " " + words[rng() % words.size()];
    std::string kind = kinds[rng() % kinds.size()], tag = tags[rng() % tags.size()];
    int64_t t = (1 + static_cast<int64_t>(rng() % 365)) * kDay;
    AddResult r = add(*svc, "f", text, kind, {tag}, t);
    rows.push_back({r.id, kind, tag, t});
  }
  for (int trial = 0; trial < 40; ++trial) {
    Filter f;
    if (rng() % 2) f.kinds = {kinds[rng() % kinds.size()]};
    if (rng() % 2) f.tags = {tags[rng() % tags.size()], tags[rng() % tags.size()]};
    if (rng() % 2) {
      f.time_from_ms = static_cast<int64_t>(rng() % 200) * kDay;
      f.time_to_ms = f.time_from_ms + static_cast<int64_t>(rng() % 200) * kDay;
    }
    std::set<uint64_t> match;
    for (const auto& r : rows) {
      bool ok = (f.kinds.empty() || r.kind == f.kinds[0]) &&
                (f.tags.empty() || std::find(f.tags.begin(), f.tags.end(), r.tag) != f.tags.end()) &&
                r.t >= f.time_from_ms && r.t <= f.time_to_ms;
      if (ok) match.insert(r.id);
    }
    SearchRequest s;
    s.query = words[rng() % words.size()];
    s.filter = f;
    s.filter.scope = {"f"};
    s.k = 10;
    s.touch = false;
    auto hits = svc->search(s);
    ASSERT_TRUE(hits);
    EXPECT_EQ(hits->size(), std::min<size_t>(10, match.size())) << "seed " << test::test_seed() << " trial " << trial;
    for (const auto& h : *hits) EXPECT_TRUE(match.count(h.memory.id)) << "seed " << test::test_seed();
  }
}

TEST(Service, UsersNeverSeeEachOther) {
  auto svc = open_or_die(config_for(test::temp_dir()));
  std::mt19937 rng(static_cast<uint32_t>(test::test_seed()) + 1);
  std::map<uint64_t, std::string> owner;
  const std::vector<std::string> users = {"ann", "ben", "cy", "dee"};
  for (int i = 0; i < 60; ++i) {
    const std::string& u = users[rng() % users.size()];
    // Same words for everyone: only the scope separates them.
    AddResult r = add(*svc, u, "shared secret number " + std::to_string(i % 7) + " about the garden party");
    owner[r.id] = u;
  }
  for (const auto& u : users) {
    for (int q = 0; q < 7; ++q) {
      for (const auto& h : search(*svc, u, "secret number " + std::to_string(q) + " garden", 50))
        EXPECT_EQ(owner[h.memory.id], u);
    }
    for (const auto& [id, o] : owner) {
      if (o == u) continue;
      EXPECT_EQ(svc->get({u}, id).status().code(), StatusCode::kNotFound);
      EXPECT_EQ(svc->remove({u}, id).code(), StatusCode::kNotFound);
      UpdateRequest up;
      up.scope = {u};
      up.id = id;
      up.text = "hijacked";
      EXPECT_EQ(svc->update(up).status().code(), StatusCode::kNotFound);
    }
  }
  EXPECT_TRUE(search(*svc, "nobody", "garden").empty());
}

TEST(Service, ForgettingMovesToColdAndRestoreBringsBack) {
  auto svc = open_or_die(config_for(test::temp_dir()));
  const int64_t t0 = 1700000000000;
  AddResult old1 = add(*svc, "u", "we toured the old castle in Prague", "event", {}, t0);
  AddResult old2 = add(*svc, "u", "grandma's apple pie recipe uses cinnamon", "fact", {}, t0);
  AddResult fresh = add(*svc, "u", "the team offsite is next Friday", "event", {}, t0 + 9 * kDay);
  // Recall old2 at day 5: S = 2, t restarts.
  SearchRequest s;
  s.query = "apple pie recipe";
  s.filter.scope = {"u"};
  s.k = 1;
  s.now_ms = t0 + 5 * kDay;
  ASSERT_TRUE(svc->search(s));
  // At day 10 with k = 1: old1 R = e^-10, old2 R = e^-(5/2), fresh R = e^-1.
  ForgetRequest f;
  f.scope = {"u"};
  f.threshold = 0.05;
  f.now_ms = t0 + 10 * kDay;
  f.dry_run = true;
  auto dry = svc->forget(f);
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry->moved, std::vector<uint64_t>{old1.id});
  f.dry_run = false;
  auto r = svc->forget(f);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->moved, std::vector<uint64_t>{old1.id});
  // Cold: not searched by default, still stored and listed with the cold tier.
  for (const auto& h : search(*svc, "u", "castle Prague")) EXPECT_NE(h.memory.id, old1.id);
  auto cold = svc->get({"u"}, old1.id);
  ASSERT_TRUE(cold);
  EXPECT_EQ(cold->tier, Tier::kCold);
  Filter cf;
  cf.tier = Tier::kCold;
  auto ch = search(*svc, "u", "castle Prague", 5, cf);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].memory.id, old1.id);
  auto hist = svc->history({"u"}, old1.id);
  ASSERT_TRUE(hist);
  EXPECT_EQ(hist->back().event, "FORGET");
  auto back = svc->restore({"u"}, old1.id);
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back->tier, Tier::kHot);
  EXPECT_EQ(back->strength, 2.0);
  EXPECT_EQ(search(*svc, "u", "castle Prague", 1)[0].memory.id, old1.id);
  (void)fresh;
}

TEST(Service, PersistsAcrossReopenAndRepairsIndexFiles) {
  std::string dir = test::temp_dir();
  uint64_t id = 0;
  {
    auto svc = open_or_die(config_for(dir));
    for (int i = 0; i < 20; ++i) add(*svc, "u", "memory number " + std::to_string(i) + " about kayaks and rivers");
    id = add(*svc, "u", "the red kayak is stored in the garage").id;
  }
  auto top = [&](MemoryService& s) { return search(s, "u", "where is the red kayak", 1)[0].memory.id; };
  {
    auto svc = open_or_die(config_for(dir));
    EXPECT_EQ(svc->stats().vectors_rebuilt_at_open, 0);
    EXPECT_EQ(top(*svc), id);
  }
  // A damaged vector file is rebuilt from the database; nothing is lost.
  {
    std::fstream f(dir + "/vectors.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.write("#", 1);
  }
  {
    auto svc = open_or_die(config_for(dir));
    EXPECT_EQ(svc->stats().vectors_rebuilt_at_open, 21);
    EXPECT_EQ(top(*svc), id);
  }
  // A vector file that is behind (a crash before its appends reached disk): repaired.
  {
    std::ifstream in(dir + "/vectors.bin", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream out(dir + "/vectors.bin", std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 1000));
  }
  {
    auto svc = open_or_die(config_for(dir));
    EXPECT_GT(svc->stats().vectors_rebuilt_at_open, 0);
    EXPECT_EQ(top(*svc), id);
    EXPECT_EQ(svc->stats().hot_memories, 21);
  }
  std::remove((dir + "/vectors.bin").c_str());
  auto svc = open_or_die(config_for(dir));
  EXPECT_EQ(top(*svc), id);
}

TEST(Service, RefusesNewerOrForeignDatabases) {
  {
    std::string dir = test::temp_dir();
    { auto svc = open_or_die(config_for(dir)); }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/memory.db").c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version=7", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    auto s = MemoryService::open(config_for(dir));
    ASSERT_FALSE(s);
    EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(s.status().message().find("newer"), std::string::npos) << s.status().message();
  }
  {
    std::string dir = test::temp_dir();
    std::ofstream(dir + "/memory.db") << "this is not a database at all, just some text that is long enough......"
                                      << std::string(4096, 'x');
    auto s = MemoryService::open(config_for(dir));
    ASSERT_FALSE(s);
    EXPECT_EQ(s.status().code(), StatusCode::kCorrupt) << s.status().message();
  }
  {
    std::string dir = test::temp_dir();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/memory.db").c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    auto s = MemoryService::open(config_for(dir));
    ASSERT_FALSE(s);
    EXPECT_EQ(s.status().code(), StatusCode::kCorrupt);
  }
}

TEST(Service, OneProcessPerDirectory) {
  std::string dir = test::temp_dir();
  auto a = open_or_die(config_for(dir));
  auto b = MemoryService::open(config_for(dir));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.status().code(), StatusCode::kIoError);
}

TEST(Service, RejectsBadInput) {
  auto svc = open_or_die(config_for(test::temp_dir()));
  auto code = [&](AddRequest a) { return svc->add(a).status().code(); };
  AddRequest ok;
  ok.scope = {"u"};
  ok.text = "fine";
  AddRequest r = ok;
  r.scope.user_id = "";
  EXPECT_EQ(code(r), StatusCode::kInvalidArgument);
  r = ok;
  r.text = "   ";
  EXPECT_EQ(code(r), StatusCode::kInvalidArgument);
  r = ok;
  r.text = std::string(40000, 'a');
  EXPECT_EQ(code(r), StatusCode::kOutOfRange);
  r = ok;
  r.text = "bad \xff utf8";
  EXPECT_EQ(code(r), StatusCode::kInvalidArgument);
  r = ok;
  r.kind = "Not A Kind";
  EXPECT_EQ(code(r), StatusCode::kInvalidArgument);
  r = ok;
  r.metadata_json = "[1,2]";
  EXPECT_EQ(code(r), StatusCode::kInvalidArgument);
  r = ok;
  r.metadata_json = "{\"unterminated";
  EXPECT_EQ(code(r), StatusCode::kInvalidArgument);
  r = ok;
  r.scope.user_id = "a\nb";
  EXPECT_EQ(code(r), StatusCode::kInvalidArgument);
  SearchRequest s;
  s.filter.scope = {"u"};
  s.query = "x";
  s.k = 0;
  EXPECT_EQ(svc->search(s).status().code(), StatusCode::kInvalidArgument);
  s.k = 5;
  s.filter.time_from_ms = 10;
  s.filter.time_to_ms = 5;
  EXPECT_EQ(svc->search(s).status().code(), StatusCode::kInvalidArgument);
  // Still serving.
  EXPECT_EQ(svc->add(ok).status().code(), StatusCode::kOk);
}

TEST(Service, ConversationalNeighboursHelpRetrieval) {
  // The answer to a question lies in the reply to it: the neighbourhood makes the reply findable
  // by the words of the question.
  MemoryConfig with = config_for(test::temp_dir());
  MemoryConfig without = config_for(test::temp_dir());
  without.retrieval.context_weights = {};
  for (MemoryConfig* c : {&with, &without}) {
    auto svc = open_or_die(*c);
    add(*svc, "u", "Jon: what instrument did your daughter pick up this spring?", "event", {}, 0, "s1");
    AddResult ans = add(*svc, "u", "Gina: the cello, she practices every evening now", "event", {}, 0, "s1");
    add(*svc, "u", "Jon: we should plan the trip to the coast", "event", {}, 0, "s2");
    add(*svc, "u", "Gina: spring is lovely at the coast", "event", {}, 0, "s2");
    auto hits = search(*svc, "u", "which instrument did Gina's daughter pick up in spring", 2);
    bool found = false;
    for (const auto& h : hits) found |= h.memory.id == ans.id;
    EXPECT_EQ(found, c == &with);
  }
}

TEST(Service, AnnPathKeepsFiltersAndUsersApart) {
  // Large users are served through the SPANN index (here: from 16 memories). Results must still
  // be the user's own, pass the filter, come k at a time, and agree with the exact scan.
  std::string dir = test::temp_dir();
  MemoryConfig c = config_for(dir);
  c.ann_min_user_memories = 16;
  c.link = false;
  std::vector<std::string> words = {"river", "garden", "piano", "market", "winter", "bakery", "castle", "harbor",
                                    "violin", "meadow", "lantern", "orchard"};
  std::mt19937 rng(static_cast<uint32_t>(test::test_seed()) + 3);
  std::map<uint64_t, std::string> owner;
  {
    auto svc = open_or_die(c);
    if (svc->stats().vector_search.find("spann") == std::string::npos) GTEST_SKIP() << "built without mnemo_ann";
    for (int i = 0; i < 120; ++i) {
      std::string u = i % 2 ? "big" : "other";
      std::string text;
      for (int w = 0; w < 5; ++w) text += words[rng() % words.size()] + " ";
      text += std::to_string(i);
      owner[add(*svc, u, text, i % 3 ? "fact" : "event").id] = u;
    }
    ASSERT_TRUE(svc->maintain().is_ok());
  }
  std::vector<std::vector<uint64_t>> got[2];
  for (int phase = 0; phase < 2; ++phase) {
    MemoryConfig pc = c;
    pc.ann_min_user_memories = phase == 0 ? 16 : 0;
    auto svc = open_or_die(pc);
    for (int q = 0; q < 12; ++q) {
      SearchRequest s;
      s.query = words[q] + " " + words[(q + 5) % words.size()];
      s.filter.scope = {"big"};
      if (q % 2) s.filter.kinds = {"event"};
      s.k = 10;
      s.mode = SearchMode::kVector;
      s.touch = false;
      auto hits = svc->search(s);
      ASSERT_TRUE(hits);
      EXPECT_EQ(hits->size(), 10u);
      std::vector<uint64_t> ids;
      for (const auto& h : *hits) {
        EXPECT_EQ(owner[h.memory.id], "big");
        if (q % 2) {
          EXPECT_EQ(h.memory.kind, "event");
        }
        ids.push_back(h.memory.id);
      }
      got[phase].push_back(ids);
    }
  }
  size_t same = 0, total = 0;
  for (size_t q = 0; q < got[0].size(); ++q) {
    std::set<uint64_t> exact(got[1][q].begin(), got[1][q].end());
    for (uint64_t id : got[0][q]) same += exact.count(id);
    total += got[1][q].size();
  }
  EXPECT_GE(static_cast<double>(same) / static_cast<double>(total), 0.9);
}

}  // namespace
}  // namespace mnemo::ltm
