// GET /metrics: Prometheus text exposition format 0.0.4.
#include "base/strings.h"
#include "mnemo/engine.h"
#include "server/server_impl.h"

namespace mnemo::server {
namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += str_printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void value(std::string& out, const char* name, double v, const std::string& labels = "") {
  out += str_printf("%s%s %.17g\n", name, labels.empty() ? "" : ("{" + labels + "}").c_str(), v);
}

// A label value: backslash, quote and newline escaped.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void ttft_histogram(std::string& out, const SchedulerStats& s) {
  metric(out, "mnemo_time_to_first_token_seconds", "histogram", "From a request's arrival to its first token");
  uint64_t cum = 0;
  for (size_t b = 0; b <= SchedulerStats::kTtftBuckets; ++b) {
    cum += s.ttft_counts[b];
    const std::string le = b < SchedulerStats::kTtftBuckets ? str_printf("%g", SchedulerStats::kTtftBounds[b]) : "+Inf";
    value(out, "mnemo_time_to_first_token_seconds_bucket", static_cast<double>(cum), "le=\"" + le + "\"");
  }
  value(out, "mnemo_time_to_first_token_seconds_sum", s.ttft_sum);
  value(out, "mnemo_time_to_first_token_seconds_count", static_cast<double>(s.ttft_count));
}

}  // namespace

std::string Server::Impl::metrics_text() {
  std::string out;
  metric(out, "mnemo_requests_total", "counter", "HTTP answers by route and status");
  {
    std::lock_guard l(count_mu);
    for (const auto& [key, n] : requests)
      value(out, "mnemo_requests_total", static_cast<double>(n),
            "route=\"" + label(key.first) + "\",status=\"" + std::to_string(key.second) + "\"");
  }
  const SchedulerStats s = scheduler->stats();
  const struct {
    const char* name;
    const char* type;
    const char* help;
    double v;
  } plain[] = {
      {"mnemo_prompt_tokens_total", "counter", "Prompt tokens evaluated (recomputed ones included)", double(s.prompt_tokens)},
      {"mnemo_generated_tokens_total", "counter", "Tokens sampled", double(s.generated_tokens)},
      {"mnemo_queue_length", "gauge", "Requests waiting for a sequence", double(s.queued)},
      {"mnemo_active_sequences", "gauge", "Sequences being generated", double(s.active)},
      {"mnemo_steps_total", "counter", "Batched forward passes", double(s.steps)},
      {"mnemo_preemptions_total", "counter", "Sequences preempted (recompute) because the KV pool was full", double(s.preemptions)},
      {"mnemo_cancelled_total", "counter", "Requests cancelled because their client left", double(s.cancelled)},
      {"mnemo_kv_committed_bytes", "gauge", "Resident KV pages of every open sequence", double(s.kv_committed_bytes)},
      {"mnemo_kv_used_bytes", "gauge", "KV bytes holding cached positions", double(s.kv_used_bytes)},
      {"mnemo_kv_reserved_bytes", "gauge", "The KV pool leased from the memory budget", double(s.kv_reserved_bytes)},
      {"mnemo_weight_bytes", "gauge", "Bytes of the model's weights", double(model.memory().weight_bytes)},
      {"mnemo_weight_resident_bytes", "gauge", "Bytes of the weights resident in RAM", double(model.memory().resident_bytes)},
      {"mnemo_budget_bytes", "gauge", "The engine's memory budget (--mem)", double(model.engine().budget_bytes())},
  };
  for (const auto& m : plain) {
    metric(out, m.name, m.type, m.help);
    value(out, m.name, m.v);
  }
  ttft_histogram(out, s);
  metric(out, "mnemo_lease_bytes", "gauge", "Bytes leased from the memory budget, by part");
  std::map<std::string, uint64_t> by_part;
  for (const EngineLease& l : model.engine().leases()) by_part[l.part] += l.bytes;
  for (const auto& [part, bytes] : by_part) value(out, "mnemo_lease_bytes", double(bytes), "part=\"" + label(part) + "\"");
  return out;
}

}  // namespace mnemo::server
