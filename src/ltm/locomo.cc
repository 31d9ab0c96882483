// LoCoMo evaluation (Maharana et al., ACL 2024): evidence recall@k of retrieved dialogue turns.
//
// Each conversation is one user; each turn one memory ("<speaker>: <text>", plus " [image:
// <caption>]" when the turn shared a picture), in session "session_<n>", dated by the session's
// date, with the turn's dia_id as source id. After ingestion the service runs its maintenance pass
// (fresh IDF for every vector), then each question is a search of the conversation's user with
// the clock at the conversation's last session date. The ranked memories are expanded to their
// source turns (a memory merged from duplicate turns stands for all of them), distinct turns are
// kept in order, and recall@k = |evidence in top k| / |evidence|, averaged per category (LoCoMo's
// own ids: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial).
//
// The baseline is plain Okapi BM25 (k1 1.2, b 0.75, lowercased words, no stemming) over the
// same turn texts, one document per turn.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/strings.h"
#include "base/sys.h"
#include "ltm/llm.h"
#include "ltm/text.h"
#include "mnemo/memory.h"

namespace mnemo::ltm {
namespace {

struct Turn {
  std::string id;  // canonical "D<session>:<turn>"
  std::string text;
  std::string session;
  int64_t time_ms = 0;
};

struct Question {
  std::string text;
  std::string answer;
  int category = 0;
  std::vector<std::string> evidence;  // canonical ids
};

struct Conversation {
  std::string id;
  std::vector<Turn> turns;
  std::vector<Question> questions;
  int64_t last_time_ms = 0;
};

// "D1:3" -> "D1:3"; "D30:05" -> "D30:5"; anything else -> "".
std::string canonical_dia_id(const std::string& s) {
  if (s.size() < 4 || s[0] != 'D') return "";
  size_t colon = s.find(':');
  if (colon == std::string::npos) return "";
  int64_t a = 0, b = 0;
  if (!parse_int64(s.substr(1, colon - 1), &a) || !parse_int64(s.substr(colon + 1), &b) || a < 0 || b < 0) return "";
  return str_printf("D%lld:%lld", static_cast<long long>(a), static_cast<long long>(b));
}

// "1:56 pm on 8 May, 2023" -> ms since the epoch (UTC); 0 when it does not parse.
int64_t parse_locomo_date(const std::string& s) {
  static const char* months[] = {"january", "february", "march",     "april",   "may",      "june",
                                 "july",    "august",   "september", "october", "november", "december"};
  auto toks = tokenize(s);  // ["1", "56", "pm", "on", "8", "may", "2023"]
  int64_t hour = -1, minute = 0, day = -1, month = -1, year = -1;
  bool pm = false, am = false;
  for (size_t i = 0; i < toks.size(); ++i) {
    const std::string& t = toks[i];
    int64_t v;
    if (t == "pm") pm = true;
    else if (t == "am") am = true;
    else if (parse_int64(t, &v)) {
      if (hour < 0 && i + 1 < toks.size() && toks[i + 1].size() == 2 && parse_int64(toks[i + 1], &minute)) {
        hour = v;
        ++i;
      } else if (v > 31) {
        year = v;
      } else if (day < 0) {
        day = v;
      }
    } else {
      for (int m = 0; m < 12; ++m)
        if (t == months[m] || (t.size() >= 3 && std::strncmp(months[m], t.c_str(), t.size()) == 0 && t.size() == 3))
          month = m;
    }
  }
  if (day < 1 || month < 0 || year < 1900) return 0;
  if (hour < 0) hour = 0;
  if (pm && hour < 12) hour += 12;
  if (am && hour == 12) hour = 0;
  struct tm tmv {};
  tmv.tm_year = static_cast<int>(year - 1900);
  tmv.tm_mon = static_cast<int>(month);
  tmv.tm_mday = static_cast<int>(day);
  tmv.tm_hour = static_cast<int>(hour);
  tmv.tm_min = static_cast<int>(minute);
  return static_cast<int64_t>(timegm(&tmv)) * 1000;
}

Expected<std::vector<Conversation>> load_locomo(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(std::string body, read_file(path));
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return corrupt(path + ": expected a JSON array of LoCoMo conversations");
  std::vector<Conversation> out;
  for (size_t ci = 0; ci < j.size(); ++ci) {
    const auto& c = j[ci];
    if (!c.is_object() || !c.contains("conversation") || !c["conversation"].is_object())
      return corrupt(str_printf("%s: [%zu]: expected an object with a \"conversation\" object", path.c_str(), ci));
    Conversation conv;
    conv.id = c.contains("sample_id") && c["sample_id"].is_string() ? c["sample_id"].get<std::string>()
                                                                     : str_printf("conv-%zu", ci);
    const auto& cv = c["conversation"];
    int64_t fallback = 0;
    for (int n = 1;; ++n) {
      std::string key = str_printf("session_%d", n);
      if (!cv.contains(key)) break;
      if (!cv[key].is_array()) return corrupt(path + ": " + conv.id + "." + key + ": expected an array of turns");
      int64_t t0 = 0;
      std::string dk = key + "_date_time";
      if (cv.contains(dk) && cv[dk].is_string()) t0 = parse_locomo_date(cv[dk].get<std::string>());
      if (t0 == 0) t0 = fallback + 86400000;  // undated: a day after the previous session
      fallback = t0;
      int ti = 0;
      for (const auto& t : cv[key]) {
        if (!t.is_object() || !t.contains("text") || !t["text"].is_string()) continue;
        Turn turn;
        turn.id = t.contains("dia_id") && t["dia_id"].is_string() ? canonical_dia_id(t["dia_id"].get<std::string>())
                                                                   : "";
        std::string speaker = t.contains("speaker") && t["speaker"].is_string() ? t["speaker"].get<std::string>() : "";
        turn.text = speaker.empty() ? t["text"].get<std::string>() : speaker + ": " + t["text"].get<std::string>();
        if (t.contains("blip_caption") && t["blip_caption"].is_string() && !t["blip_caption"].get<std::string>().empty())
          turn.text += " [image: " + t["blip_caption"].get<std::string>() + "]";
        turn.session = key;
        turn.time_ms = t0 + 1000 * ti++;  // keep turns in order within the session
        conv.last_time_ms = std::max(conv.last_time_ms, turn.time_ms);
        if (!valid_utf8(turn.text) || turn.text.empty()) continue;
        conv.turns.push_back(std::move(turn));
      }
    }
    if (c.contains("qa") && c["qa"].is_array()) {
      for (const auto& q : c["qa"]) {
        if (!q.is_object() || !q.contains("question") || !q["question"].is_string()) continue;
        Question qq;
        qq.text = q["question"].get<std::string>();
        if (q.contains("answer")) qq.answer = q["answer"].is_string() ? q["answer"].get<std::string>() : q["answer"].dump();
        qq.category = q.contains("category") && q["category"].is_number_integer() ? q["category"].get<int>() : 0;
        if (q.contains("evidence") && q["evidence"].is_array()) {
          for (const auto& e : q["evidence"]) {
            if (!e.is_string()) continue;
            // Some ids are lists in one string ("D8:6; D9:17").
            std::string s = e.get<std::string>();
            for (char& ch : s)
              if (ch == ';' || ch == ',') ch = ' ';
            for (const std::string& part : split(s, ' ')) {
              std::string id = canonical_dia_id(part);
              if (!id.empty() && std::find(qq.evidence.begin(), qq.evidence.end(), id) == qq.evidence.end())
                qq.evidence.push_back(id);
            }
          }
        }
        if (qq.category < 1 || qq.category > 5 || qq.evidence.empty()) continue;
        conv.questions.push_back(std::move(qq));
      }
    }
    out.push_back(std::move(conv));
  }
  return out;
}

// Plain Okapi BM25, one document per turn: the baseline.
class PlainBm25 {
 public:
  explicit PlainBm25(const std::vector<Turn>& turns) {
    docs_.reserve(turns.size());
    for (const auto& t : turns) {
      std::unordered_map<std::string, int> tf;
      auto toks = tokenize(t.text);
      for (const auto& w : toks) ++tf[w];
      for (const auto& [w, c] : tf) ++df_[w];
      len_.push_back(static_cast<double>(toks.size()));
      total_ += static_cast<double>(toks.size());
      docs_.push_back(std::move(tf));
    }
  }
  std::vector<size_t> rank(const std::string& query, size_t k) const {
    const double k1 = 1.2, b = 0.75, n = static_cast<double>(docs_.size());
    const double avg = n > 0 ? total_ / n : 1;
    auto q = tokenize(query);
    std::sort(q.begin(), q.end());
    q.erase(std::unique(q.begin(), q.end()), q.end());
    std::vector<std::pair<double, size_t>> scores;
    for (size_t d = 0; d < docs_.size(); ++d) {
      double s = 0;
      for (const auto& w : q) {
        auto it = docs_[d].find(w);
        if (it == docs_[d].end()) continue;
        double df = df_.at(w);
        double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
        double f = it->second;
        s += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len_[d] / avg));
      }
      if (s > 0) scores.emplace_back(s, d);
    }
    std::sort(scores.begin(), scores.end(), [](const auto& a, const auto& b2) {
      return a.first != b2.first ? a.first > b2.first : a.second < b2.second;
    });
    std::vector<size_t> out;
    for (size_t i = 0; i < scores.size() && i < k; ++i) out.push_back(scores[i].second);
    return out;
  }

 private:
  std::vector<std::unordered_map<std::string, int>> docs_;
  std::unordered_map<std::string, int> df_;
  std::vector<double> len_;
  double total_ = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) ;
  if (i > 0) --i;
  return v[std::min(i, v.size() - 1)];
}

struct Tally {
  std::map<int, std::vector<double>> sum;  // category -> per-k sums
  std::map<int, int> n;
  void add(int cat, const std::vector<double>& r) {
    auto& s = sum[cat];
    if (s.empty()) s.assign(r.size(), 0.0);
    for (size_t i = 0; i < r.size(); ++i) s[i] += r[i];
    ++n[cat];
  }
  std::vector<RecallRow> rows(size_t nk) const {
    std::vector<RecallRow> out;
    for (int c = 1; c <= 5; ++c) {
      RecallRow row;
      row.category = c;
      row.n = n.count(c) ? n.at(c) : 0;
      row.recall.assign(nk, 0.0);
      if (row.n > 0)
        for (size_t i = 0; i < nk; ++i) row.recall[i] = sum.at(c)[i] / row.n;
      out.push_back(row);
    }
    RecallRow macro{0, 0, std::vector<double>(nk, 0.0)}, pooled{-1, 0, std::vector<double>(nk, 0.0)};
    int cats = 0;
    for (int c = 1; c <= 4; ++c) {
      if (!n.count(c)) continue;
      ++cats;
      macro.n += n.at(c);
      pooled.n += n.at(c);
      for (size_t i = 0; i < nk; ++i) {
        macro.recall[i] += out[c - 1].recall[i];
        pooled.recall[i] += sum.at(c)[i];
      }
    }
    for (size_t i = 0; i < nk; ++i) {
      if (cats > 0) macro.recall[i] /= cats;
      if (pooled.n > 0) pooled.recall[i] /= pooled.n;
    }
    out.push_back(macro);
    out.push_back(pooled);
    return out;
  }
};

// How many of the first 10 hits of a question would count as recalls, evidence and the rest apart
// (forgetting that means something: relevant hits should be recalls, the rest should not).
struct MatchedTally {
  uint64_t evidence = 0, evidence_matched = 0, other = 0, other_matched = 0;
  uint64_t unrelated = 0, unrelated_matched = 0;  // hits of another conversation's questions
};

void count_matched(const std::vector<SearchHit>& hits, const std::vector<std::string>& evidence, MatchedTally& t) {
  for (size_t i = 0; i < hits.size() && i < 10; ++i) {
    bool is_evidence = false;
    for (const auto& src : hits[i].memory.sources)
      if (std::find(evidence.begin(), evidence.end(), src) != evidence.end()) is_evidence = true;
    (is_evidence ? t.evidence : t.other) += 1;
    if (hits[i].matched) (is_evidence ? t.evidence_matched : t.other_matched) += 1;
  }
}

std::vector<double> recall_at(const std::vector<std::string>& ranked, const std::vector<std::string>& evidence,
                              const std::vector<int>& ks) {
  std::vector<double> r;
  for (int k : ks) {
    size_t hit = 0;
    for (const auto& e : evidence) {
      for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(k); ++i)
        if (ranked[i] == e) {
          ++hit;
          break;
        }
    }
    r.push_back(static_cast<double>(hit) / static_cast<double>(evidence.size()));
  }
  return r;
}

std::string temp_dir_for_eval() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && base[0] ? base : "/tmp") + "/mnemo-locomo-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  return p ? std::string(p) : std::string();
}

// Answers a question from retrieved memories and has the judge grade it (LoCoMo "J").
Expected<bool> answer_and_judge(const LocomoOptions& opt, const Question& q, const std::vector<SearchHit>& hits) {
  std::string context;
  for (size_t i = 0; i < hits.size() && static_cast<int>(i) < opt.answer_k; ++i) {
    time_t t = static_cast<time_t>(hits[i].memory.event_time_ms / 1000);
    char date[32];
    struct tm tmv;
    gmtime_r(&t, &tmv);
    std::strftime(date, sizeof date, "%Y-%m-%d", &tmv);
    context += std::string("[") + date + "] " + hits[i].memory.text + "\n";
  }
  std::string prompt = "You answer questions about a long conversation from the memories below. Answer in a short "
                       "phrase; use the dates to resolve relative times.\n\nMemories:\n" + context +
                       "\nQuestion: " + q.text + "\nAnswer:";
  MNEMO_ASSIGN_OR_RETURN(std::string answer, chat_complete(opt.answer_llm, {{"user", prompt}}, 128));
  const LlmConfig& judge = opt.judge_llm.enabled() ? opt.judge_llm : opt.answer_llm;
  std::string jp = "Your task is to label an answer to a question as CORRECT or WRONG. You are given a question, a "
                   "gold (ground truth) answer and a generated answer. Be generous: if the generated answer touches "
                   "the same topic as the gold answer, or names the same date in another format, it is CORRECT.\n\n"
                   "Question: " + q.text + "\nGold answer: " + q.answer + "\nGenerated answer: " + answer +
                   "\n\nReply with one word: CORRECT or WRONG.";
  MNEMO_ASSIGN_OR_RETURN(std::string verdict, chat_complete(judge, {{"user", jp}}, 16));
  auto toks = tokenize(verdict);
  return std::find(toks.begin(), toks.end(), "correct") != toks.end() &&
         std::find(toks.begin(), toks.end(), "wrong") == toks.end();
}

}  // namespace

Expected<LocomoReport> eval_locomo(const std::string& path, const LocomoOptions& opt) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<Conversation> all, load_locomo(path));
  std::vector<Conversation*> convs;
  if (opt.conversations.empty()) {
    for (auto& c : all) convs.push_back(&c);
  } else {
    for (int i : opt.conversations) {
      if (i < 0 || i >= static_cast<int>(all.size()))
        return invalid_argument(str_printf("--conversations: expected indexes below %zu, got %d", all.size(), i));
      convs.push_back(&all[i]);
    }
  }
  if (opt.ks.empty()) return invalid_argument("--k: expected at least one k");
  const int max_k = *std::max_element(opt.ks.begin(), opt.ks.end());
  std::string dir = opt.dir;
  bool own_dir = dir.empty();
  if (own_dir) dir = temp_dir_for_eval();
  if (dir.empty()) return io_error("eval: cannot create a scratch directory");
  MemoryConfig cfg = opt.config;
  cfg.dir = dir;
  cfg.background_maintenance = false;
  cfg.llm = LlmConfig{};  // ingestion without inference: one memory per turn, as stored

  LocomoReport rep;
  rep.file = path;
  rep.ks = opt.ks;
  LocomoSystemResult ours, base;
  ours.name = "mnemo";
  base.name = "bm25";
  std::vector<double> add_ms, search_ms, base_ms;
  MatchedTally matched;
  Tally t_ours, t_base;
  int judged = 0, correct = 0;
  {
    MNEMO_ASSIGN_OR_RETURN(auto svc, MemoryService::open(cfg));
    for (Conversation* c : convs) {
      rep.conversation_ids.push_back(c->id);
      rep.turns += static_cast<int>(c->turns.size());
      if (opt.progress) opt.progress(str_printf("%s: adding %zu turns", c->id.c_str(), c->turns.size()));
      for (const Turn& t : c->turns) {
        AddRequest a;
        a.scope = {c->id, "", t.session};
        a.text = t.text;
        a.kind = "event";
        a.event_time_ms = t.time_ms;
        a.source_id = t.id;
        a.infer = false;
        double t0 = now_seconds();
        auto r = svc->add(a);
        add_ms.push_back((now_seconds() - t0) * 1e3);
        if (!r) return r.status().with_context(c->id + " " + t.id);
      }
    }
    MNEMO_RETURN_IF_ERROR(svc->maintain());
    int asked = 0;
    for (size_t ci = 0; ci < convs.size(); ++ci) {
      Conversation* c = convs[ci];
      // The same questions asked of another conversation's user: unrelated queries, whose hits
      // should not count as recalls.
      const Conversation* other = convs[(ci + 1) % convs.size()];
      Tally t_conv_ours, t_conv_base;
      PlainBm25 bm25(c->turns);
      if (opt.progress) opt.progress(str_printf("%s: %zu questions", c->id.c_str(), c->questions.size()));
      for (const Question& q : c->questions) {
        if (opt.max_questions > 0 && asked >= opt.max_questions) break;
        ++asked;
        SearchRequest s;
        s.query = q.text;
        s.filter.scope.user_id = c->id;
        s.k = max_k;
        s.touch = false;
        s.now_ms = c->last_time_ms;
        double t0 = now_seconds();
        auto hits = svc->search(s);
        search_ms.push_back((now_seconds() - t0) * 1e3);
        if (!hits) return hits.status().with_context(c->id + ": search");
        std::vector<std::string> ranked;
        for (const auto& h : *hits)
          for (const auto& src : h.memory.sources)
            if (std::find(ranked.begin(), ranked.end(), src) == ranked.end()) ranked.push_back(src);
        auto r = recall_at(ranked, q.evidence, opt.ks);
        t_ours.add(q.category, r);
        count_matched(*hits, q.evidence, matched);
        if (other != c) {
          s.filter.scope.user_id = other->id;
          s.k = 10;
          auto unrelated = svc->search(s);
          if (!unrelated) return unrelated.status().with_context(other->id + ": search");
          for (const auto& h : *unrelated) {
            ++matched.unrelated;
            if (h.matched) ++matched.unrelated_matched;
          }
        }
        t_conv_ours.add(q.category, r);
        if (opt.baseline) {
          double b0 = now_seconds();
          auto ids = bm25.rank(q.text, static_cast<size_t>(max_k));
          base_ms.push_back((now_seconds() - b0) * 1e3);
          std::vector<std::string> bro;
          for (size_t d : ids) bro.push_back(c->turns[d].id);
          auto rb = recall_at(bro, q.evidence, opt.ks);
          t_base.add(q.category, rb);
          t_conv_base.add(q.category, rb);
        }
        if (opt.answer_llm.enabled() && q.category <= 4) {
          auto ok = answer_and_judge(opt, q, *hits);
          if (!ok) return ok.status().with_context("eval: LLM answer/judge");
          ++judged;
          if (*ok) ++correct;
        }
      }
      ours.per_conversation.push_back(t_conv_ours.rows(opt.ks.size()));
      if (opt.baseline) base.per_conversation.push_back(t_conv_base.rows(opt.ks.size()));
      rep.questions += 0;
    }
    rep.questions = asked;
  }
  if (own_dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  rep.conversations = static_cast<int>(convs.size());
  ours.rows = t_ours.rows(opt.ks.size());
  ours.add_p50_ms = percentile(add_ms, 0.5);
  ours.add_p95_ms = percentile(add_ms, 0.95);
  ours.search_p50_ms = percentile(search_ms, 0.5);
  ours.search_p95_ms = percentile(search_ms, 0.95);
  if (matched.evidence > 0) ours.matched_evidence = static_cast<double>(matched.evidence_matched) / matched.evidence;
  if (matched.other > 0) ours.matched_other = static_cast<double>(matched.other_matched) / matched.other;
  if (matched.unrelated > 0)
    ours.matched_unrelated = static_cast<double>(matched.unrelated_matched) / matched.unrelated;
  if (judged > 0) {
    ours.answered = judged;
    ours.judge_accuracy = static_cast<double>(correct) / judged;
  }
  rep.systems.push_back(ours);
  if (opt.baseline) {
    base.rows = t_base.rows(opt.ks.size());
    base.search_p50_ms = percentile(base_ms, 0.5);
    base.search_p95_ms = percentile(base_ms, 0.95);
    rep.systems.push_back(base);
  }
  return rep;
}

namespace {
const char* category_name(int c) {
  switch (c) {
    case 1: return "1 multi-hop";
    case 2: return "2 temporal";
    case 3: return "3 open-domain";
    case 4: return "4 single-hop";
    case 5: return "5 adversarial";
    case 0: return "mean of 1-4";
    case -1: return "pooled 1-4";
  }
  return "?";
}
}  // namespace

std::string LocomoReport::to_table() const {
  std::string out = str_printf("LoCoMo evidence recall: %s, %d conversations, %d turns, %d questions\n", file.c_str(),
                               conversations, turns, questions);
  std::string head = str_printf("%-14s %5s", "category", "n");
  for (const auto& s : systems)
    for (int k : ks) head += str_printf(" %8s", str_printf("%s@%d", s.name == "mnemo" ? "R" : "bm", k).c_str());
  out += head + "\n";
  if (systems.empty()) return out;
  for (size_t r = 0; r < systems[0].rows.size(); ++r) {
    const RecallRow& row0 = systems[0].rows[r];
    std::string line = str_printf("%-14s %5d", category_name(row0.category), row0.n);
    for (const auto& s : systems)
      for (double v : s.rows[r].recall) line += str_printf(" %8.3f", v);
    out += line + "\n";
  }
  for (const auto& s : systems) {
    out += str_printf("%s: search p50 %.3f ms, p95 %.3f ms", s.name.c_str(), s.search_p50_ms, s.search_p95_ms);
    if (s.matched_evidence >= 0)
      out += str_printf("; top-10 hits that count as recalls: evidence %.3f, other %.3f, another conversation's "
                        "questions %.3f",
                        s.matched_evidence, s.matched_other, s.matched_unrelated);
    if (s.add_p95_ms > 0) out += str_printf("; add p50 %.3f ms, p95 %.3f ms", s.add_p50_ms, s.add_p95_ms);
    if (s.judge_accuracy >= 0) out += str_printf("; LLM judge accuracy %.3f (n=%d)", s.judge_accuracy, s.answered);
    out += "\n";
  }
  return out;
}

std::string LocomoReport::to_json() const {
  nlohmann::json j;
  j["file"] = file;
  j["conversations"] = conversations;
  j["conversation_ids"] = conversation_ids;
  j["turns"] = turns;
  j["questions"] = questions;
  j["ks"] = ks;
  auto rows_json = [](const std::vector<RecallRow>& rows) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& r : rows) a.push_back({{"category", r.category}, {"name", category_name(r.category)},
                                            {"n", r.n}, {"recall", r.recall}});
    return a;
  };
  for (const auto& s : systems) {
    nlohmann::json sj = {{"name", s.name},
                         {"rows", rows_json(s.rows)},
                         {"add_p50_ms", s.add_p50_ms},
                         {"add_p95_ms", s.add_p95_ms},
                         {"search_p50_ms", s.search_p50_ms},
                         {"search_p95_ms", s.search_p95_ms}};
    if (s.matched_evidence >= 0) {
      sj["matched_evidence"] = s.matched_evidence;
      sj["matched_other"] = s.matched_other;
      sj["matched_unrelated"] = s.matched_unrelated;
    }
    if (s.judge_accuracy >= 0) {
      sj["judge_accuracy"] = s.judge_accuracy;
      sj["answered"] = s.answered;
    }
    nlohmann::json pc = nlohmann::json::array();
    for (const auto& rows : s.per_conversation) pc.push_back(rows_json(rows));
    sj["per_conversation"] = pc;
    j["systems"].push_back(sj);
  }
  return j.dump(2);
}

}  // namespace mnemo::ltm
