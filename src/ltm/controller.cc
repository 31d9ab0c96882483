// ChatSession: the SCM memory controller (Wang et al., arXiv 2304.13343) with an Actor-Reasoner
// fast path (Fang et al., arXiv 2503.00502), over any OpenAI-compatible endpoint.
//
// Per user turn:
//  1. The controller decides whether the turn needs memory: an LLM yes/no prompt (SCM's
//     is_history_need), or without one a rule: messages of fewer than three words do not.
//  2. Two-layer retrieval: choose the partitions (memory kinds fact / event / preference: by the
//     LLM, or by which partitions' best match is close to the overall best), then similarity
//     search inside them. Retrieval is a recall (strength += 1).
//  3. Budget: recent turns of this session (activation memory), newest first, take up to
//     recent_share of the token budget; retrieved memories (flash memory) fill the rest, each in
//     full if it fits, else as its summary (its context line, else its first sentence).
//  4. The Reasoner (the LLM) answers from that context on a separate thread while the Actor looks
//     for a remembered answer to a near-identical question (kind "qa"): when one is close enough
//     it is handed to on_fast at once.
//  5. Write-back: the user's turn becomes a memory (kind by the note builder, else "event"), and
//     the question with the Reasoner's answer a "qa" memory for the Actor.
#include <algorithm>
#include <deque>
#include <future>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/strings.h"
#include "ltm/llm.h"
#include "ltm/text.h"
#include "mnemo/memory.h"

namespace mnemo::ltm {
namespace {

const std::vector<std::string> kPartitions = {"fact", "event", "preference"};

std::string summary_of(const MemoryRecord& m) {
  if (!m.context.empty()) return m.context;
  std::string s = m.text;
  size_t end = s.find_first_of(".!?\n");
  if (end != std::string::npos && end + 1 < s.size()) s = s.substr(0, end + 1);
  if (s.size() > 160) s = s.substr(0, 157) + "...";
  return s;
}

}  // namespace

struct ChatSession::Impl {
  MemoryService& svc;
  ChatOptions opt;
  std::deque<ChatMessage> recent;  // this session's turns, oldest first

  Impl(MemoryService& s, ChatOptions o) : svc(s), opt(std::move(o)) {}

  bool needs_memory(const std::string& text) {
    if (opt.llm_controller && opt.llm.enabled()) {
      std::string hist;
      for (size_t i = recent.size() > 4 ? recent.size() - 4 : 0; i < recent.size(); ++i)
        hist += recent[i].role + ": " + recent[i].content + "\n";
      std::string prompt =
          "Given the recent conversation and the user's new message, does answering the message need information "
          "from earlier conversations or stored memories about the user (facts, events, preferences)? Answer yes or "
          "no.\n\nRecent conversation:\n" + hist + "\nNew message: " + text;
      auto a = chat_complete(opt.llm, {{"user", prompt}}, 8);
      if (a) return answer_is_yes(*a);
      MNEMO_LOG_WARN("chat: controller prompt failed, using the rule: %s", a.status().message().c_str());
    }
    return tokenize(text).size() >= 3;
  }

  std::vector<std::string> partitions(const std::string& text) {
    if (opt.llm_controller && opt.llm.enabled()) {
      std::string prompt = "Which kinds of stored memory does answering this message need: fact, event, preference? "
                           "Answer with a comma-separated list.\n\nMessage: " + text;
      auto a = chat_complete(opt.llm, {{"user", prompt}}, 16);
      if (a) {
        std::vector<std::string> out;
        for (const auto& t : tokenize(*a))
          for (const auto& p : kPartitions)
            if ((t == p || t == p + "s") && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
        if (!out.empty()) return out;
      }
    }
    // Without an LLM: partitions whose best match is close to the best match overall.
    std::vector<std::pair<double, std::string>> best;
    for (const auto& p : kPartitions) {
      SearchRequest s;
      s.query = text;
      s.filter.scope.user_id = opt.scope.user_id;
      s.filter.scope.agent_id = opt.scope.agent_id;
      s.filter.kinds = {p};
      s.k = 1;
      s.touch = false;
      auto hits = svc.search(s);
      if (hits && !hits->empty()) best.emplace_back((*hits)[0].similarity, p);
    }
    double top = 0;
    for (const auto& b : best) top = std::max(top, b.first);
    std::vector<std::string> out;
    for (const auto& b : best)
      if (b.first >= 0.8 * top && b.first > 0) out.push_back(b.second);
    return out.empty() ? kPartitions : out;
  }

  Expected<ChatReply> turn(const std::string& text, const std::function<void(const std::string&)>& on_fast) {
    if (tokenize(text).empty()) return invalid_argument("chat: expected a message with words");
    if (!valid_utf8(text) || text.size() > svc.config().max_text_bytes)
      return invalid_argument("chat: message: expected UTF-8 within the text size limit");
    ChatReply reply;
    std::vector<MemoryRecord> memories;
    if (needs_memory(text)) {
      reply.retrieved = true;
      reply.partitions = partitions(text);
      SearchRequest s;
      s.query = text;
      s.filter.scope.user_id = opt.scope.user_id;
      s.filter.scope.agent_id = opt.scope.agent_id;
      s.filter.kinds = reply.partitions;
      s.k = opt.k;
      MNEMO_ASSIGN_OR_RETURN(auto hits, svc.search(s));
      for (auto& h : hits) memories.push_back(std::move(h.memory));
    }

    // Token budget: activation memory first (bounded by its share), then flash memory.
    const int budget = opt.token_budget;
    int used = approx_tokens(text);
    std::vector<ChatMessage> history;
    const int recent_cap = static_cast<int>(budget * opt.recent_share);
    int recent_used = 0;
    for (auto it = recent.rbegin(); it != recent.rend(); ++it) {
      int t = approx_tokens(it->content);
      if (recent_used + t > recent_cap || used + t > budget) break;
      recent_used += t;
      history.insert(history.begin(), *it);
    }
    used += recent_used;
    reply.recent_turns_used = static_cast<int>(history.size());
    std::string memory_block;
    for (const MemoryRecord& m : memories) {
      std::string line = "- " + m.text;
      if (used + approx_tokens(line) > budget) {
        line = "- (summary) " + summary_of(m);
        if (used + approx_tokens(line) > budget) break;
        ++reply.summaries_used;
      }
      used += approx_tokens(line);
      memory_block += line + "\n";
      reply.memory_ids.push_back(m.id);
    }
    reply.context_tokens = used;

    std::vector<ChatMessage> msgs;
    std::string system = "You are a helpful assistant with a long-term memory of this user.";
    if (!memory_block.empty()) system += "\nRelevant memories:\n" + memory_block;
    msgs.push_back({"system", system});
    for (const auto& h : history) msgs.push_back(h);
    msgs.push_back({"user", text});

    // The Reasoner runs while the Actor looks for a remembered answer.
    LlmConfig llm = opt.llm;
    std::future<Expected<std::string>> slow =
        std::async(std::launch::async, [llm, msgs] { return chat_complete(llm, msgs); });
    if (opt.fast_path) {
      SearchRequest s;
      s.query = text;
      s.filter.scope.user_id = opt.scope.user_id;
      s.filter.scope.agent_id = opt.scope.agent_id;
      s.filter.kinds = {"qa"};
      s.mode = SearchMode::kVector;
      s.k = 1;
      auto hits = svc.search(s);
      if (hits && !hits->empty() && (*hits)[0].similarity >= opt.fast_path_similarity) {
        nlohmann::json meta = nlohmann::json::parse((*hits)[0].memory.metadata_json, nullptr, false);
        if (meta.is_object() && meta.contains("answer") && meta["answer"].is_string()) {
          reply.fast_answer = meta["answer"].get<std::string>();
          if (on_fast) on_fast(reply.fast_answer);
        }
      }
    }
    auto answer = slow.get();
    if (!answer) return answer.status().with_context("chat: the LLM");
    reply.answer = *answer;

    if (opt.write_back) {
      AddRequest turn;
      turn.scope = opt.scope;
      turn.text = text;
      turn.kind = opt.llm.enabled() ? "" : "event";
      auto r = svc.add(turn);
      if (!r) MNEMO_LOG_WARN("chat: storing the turn failed: %s", r.status().message().c_str());
      AddRequest qa;
      qa.scope = opt.scope;
      qa.text = text;
      qa.kind = "qa";
      qa.infer = false;
      qa.metadata_json = nlohmann::json({{"answer", reply.answer}}).dump();
      auto q = svc.add(qa);
      if (q && q->event == AddEvent::kNone && q->id != 0) {
        // The same question again: keep the newest answer.
        UpdateRequest u;
        u.scope = opt.scope;
        u.id = q->id;
        u.metadata_json = qa.metadata_json;
        (void)svc.update(u);
      }
      if (!q) MNEMO_LOG_WARN("chat: storing the answer failed: %s", q.status().message().c_str());
    }
    recent.push_back({"user", text});
    recent.push_back({"assistant", reply.answer});
    while (recent.size() > 64) recent.pop_front();
    return reply;
  }
};

ChatSession::ChatSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatSession::~ChatSession() = default;

Expected<std::unique_ptr<ChatSession>> ChatSession::create(MemoryService& service, const ChatOptions& options) {
  if (options.scope.user_id.empty()) return invalid_argument("chat: --user is required");
  if (!options.llm.enabled()) return invalid_argument("chat: --llm-url is required (an OpenAI-compatible endpoint)");
  if (options.token_budget < 64) return invalid_argument("--budget: expected at least 64 tokens");
  if (options.recent_share < 0 || options.recent_share > 1) return invalid_argument("--recent-share: expected 0..1");
  ChatOptions o = options;
  if (o.scope.session_id.empty()) o.scope.session_id = "chat";
  return std::unique_ptr<ChatSession>(new ChatSession(std::make_unique<Impl>(service, std::move(o))));
}

Expected<ChatReply> ChatSession::turn(const std::string& user_text,
                                      const std::function<void(const std::string&)>& on_fast) {
  return impl_->turn(user_text, on_fast);
}

}  // namespace mnemo::ltm
