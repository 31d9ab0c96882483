// The training config: JSON -> TrainConfig (include/mnemo/train.h), strictly: every key known,
// every value of the expected type and range.
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "base/file.h"
#include "base/strings.h"
#include "mnemo/train.h"
#include "train/params.h"

namespace mnemo {
namespace {

using nlohmann::json;

// Walks one JSON object, remembering which keys were read, so that the rest can be reported.
class Obj {
 public:
  Obj(const json& j, std::string where, const std::string& subject) : j_(j), where_(std::move(where)), subject_(subject) {}

  Status check_object() const {
    if (!j_.is_object()) return err("", "expected an object, found " + std::string(j_.type_name()));
    return Status::ok();
  }
  bool has(const char* key) const { return j_.contains(key); }

  template <typename T>
  Status get(const char* key, T* out) {
    seen_.insert(key);
    if (!j_.contains(key)) return Status::ok();
    const json& v = j_.at(key);
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) return err(key, "expected true or false, found " + dump(v));
      *out = v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) return err(key, "expected an integer, found " + dump(v));
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) && !std::is_same_v<T, uint64_t>) {
        return err(key, "expected a smaller integer, found " + dump(v));
      }
      if constexpr (std::is_same_v<T, uint64_t>) {
        if (v.is_number_unsigned()) {
          *out = v.get<uint64_t>();
        } else {
          if (v.get<int64_t>() < 0) return err(key, "expected a non-negative integer, found " + dump(v));
          *out = static_cast<uint64_t>(v.get<int64_t>());
        }
      } else {
        const int64_t x = v.get<int64_t>();
        if (x < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            x > static_cast<int64_t>(std::numeric_limits<T>::max())) {
          return err(key, "expected a smaller integer, found " + dump(v));
        }
        *out = static_cast<T>(x);
      }
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) return err(key, "expected a number, found " + dump(v));
      *out = v.get<double>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) return err(key, "expected a string, found " + dump(v));
      *out = v.get<std::string>();
    } else {
      static_assert(std::is_same_v<T, std::vector<std::string>>);
      if (v.is_string()) {
        *out = {v.get<std::string>()};
      } else {
        if (!v.is_array()) return err(key, "expected a string or an array of strings, found " + dump(v));
        out->clear();
        for (const json& e : v) {
          if (!e.is_string()) return err(key, "expected strings, found " + dump(e));
          out->push_back(e.get<std::string>());
        }
      }
    }
    return Status::ok();
  }

  // The sub-object at key (an empty object when absent).
  Expected<Obj> child(const char* key) {
    seen_.insert(key);
    static const json kEmpty = json::object();
    const json& v = j_.contains(key) ? j_.at(key) : kEmpty;
    Obj o(v, where_ + key + ".", subject_);
    MNEMO_RETURN_IF_ERROR(o.check_object());
    return o;
  }

  Status check_unknown() const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (!seen_.count(it.key())) return err(it.key(), "unknown key");
    }
    return Status::ok();
  }

  Status err(const std::string& key, const std::string& what) const {
    if (key.empty()) {
      const std::string at = where_.empty() ? "config" : where_.substr(0, where_.size() - 1);  // drop the '.'
      return invalid_argument(subject_ + ": " + at + ": " + what);
    }
    return invalid_argument(subject_ + ": " + where_ + key + ": " + what);
  }

 private:
  static std::string dump(const json& v) {
    std::string s = v.dump();
    return s.size() > 40 ? s.substr(0, 40) + "..." : s;
  }
  const json& j_;
  std::string where_;
  const std::string& subject_;
  std::set<std::string> seen_;
};

// ${VAR} and ${VAR:-default} from the environment.
Expected<std::string> expand(const std::string& s, const std::string& what) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      const size_t end = s.find('}', i + 2);
      if (end == std::string::npos) return invalid_argument(what + ": unterminated ${ in \"" + s + "\"");
      std::string name = s.substr(i + 2, end - i - 2), def;
      bool has_def = false;
      if (size_t d = name.find(":-"); d != std::string::npos) {
        def = name.substr(d + 2);
        name = name.substr(0, d);
        has_def = true;
      }
      const char* v = std::getenv(name.c_str());
      if (v != nullptr && v[0] != '\0') {
        out += v;
      } else if (has_def) {
        out += def;
      } else {
        return invalid_argument(what + ": environment variable " + name + " is not set");
      }
      i = end + 1;
    } else {
      out += s[i++];
    }
  }
  return out;
}

Status expand_in_place(std::string* s, const std::string& what) {
  if (s->empty()) return Status::ok();
  MNEMO_ASSIGN_OR_RETURN(*s, expand(*s, what));
  return Status::ok();
}

}  // namespace

Expected<TrainConfig> parse_train_config(const std::string& text, const std::string& subject) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return invalid_argument(subject + ": expected JSON: " + e.what());
  }
  TrainConfig c;
  c.path = subject;
  Obj root(j, "", subject);
  MNEMO_RETURN_IF_ERROR(root.check_object());

  MNEMO_ASSIGN_OR_RETURN(Obj m, root.child("model"));
  MNEMO_RETURN_IF_ERROR(m.get("n_vocab", &c.model.n_vocab));
  MNEMO_RETURN_IF_ERROR(m.get("n_embd", &c.model.n_embd));
  MNEMO_RETURN_IF_ERROR(m.get("n_layer", &c.model.n_layer));
  MNEMO_RETURN_IF_ERROR(m.get("n_head", &c.model.n_head));
  c.model.n_head_kv = 0;
  MNEMO_RETURN_IF_ERROR(m.get("n_head_kv", &c.model.n_head_kv));
  MNEMO_RETURN_IF_ERROR(m.get("n_ff", &c.model.n_ff));
  MNEMO_RETURN_IF_ERROR(m.get("n_ctx", &c.model.n_ctx));
  MNEMO_RETURN_IF_ERROR(m.get("rms_eps", &c.model.rms_eps));
  MNEMO_RETURN_IF_ERROR(m.get("rope_base", &c.model.rope_base));
  MNEMO_RETURN_IF_ERROR(m.get("tied_output", &c.model.tied_output));
  MNEMO_RETURN_IF_ERROR(m.get("init_std", &c.model.init_std));
  MNEMO_RETURN_IF_ERROR(m.get("init_from", &c.model.init_from));
  MNEMO_RETURN_IF_ERROR(m.check_unknown());

  MNEMO_RETURN_IF_ERROR(root.get("tokenizer", &c.tokenizer));

  MNEMO_ASSIGN_OR_RETURN(Obj d, root.child("data"));
  MNEMO_RETURN_IF_ERROR(d.get("train", &c.data.train));
  MNEMO_RETURN_IF_ERROR(d.get("val", &c.data.val));
  MNEMO_RETURN_IF_ERROR(d.get("shuffle", &c.data.shuffle));
  MNEMO_RETURN_IF_ERROR(d.get("split", &c.data.split));
  MNEMO_RETURN_IF_ERROR(d.check_unknown());

  MNEMO_RETURN_IF_ERROR(root.get("batch_size", &c.batch_size));
  MNEMO_RETURN_IF_ERROR(root.get("seq_len", &c.seq_len));
  MNEMO_RETURN_IF_ERROR(root.get("grad_accum", &c.grad_accum));
  MNEMO_RETURN_IF_ERROR(root.get("steps", &c.steps));

  MNEMO_ASSIGN_OR_RETURN(Obj s, root.child("schedule"));
  MNEMO_RETURN_IF_ERROR(s.get("lr", &c.schedule.lr));
  MNEMO_RETURN_IF_ERROR(s.get("min_lr", &c.schedule.min_lr));
  MNEMO_RETURN_IF_ERROR(s.get("warmup", &c.schedule.warmup));
  MNEMO_RETURN_IF_ERROR(s.get("kind", &c.schedule.kind));
  MNEMO_RETURN_IF_ERROR(s.check_unknown());

  MNEMO_ASSIGN_OR_RETURN(Obj o, root.child("optimizer"));
  MNEMO_RETURN_IF_ERROR(o.get("type", &c.optimizer.type));
  MNEMO_RETURN_IF_ERROR(o.get("beta1", &c.optimizer.beta1));
  MNEMO_RETURN_IF_ERROR(o.get("beta2", &c.optimizer.beta2));
  MNEMO_RETURN_IF_ERROR(o.get("eps", &c.optimizer.eps));
  MNEMO_RETURN_IF_ERROR(o.get("weight_decay", &c.optimizer.weight_decay));
  MNEMO_RETURN_IF_ERROR(o.get("grad_clip", &c.optimizer.grad_clip));
  {
    MNEMO_ASSIGN_OR_RETURN(Obj g, o.child("galore"));
    MNEMO_RETURN_IF_ERROR(g.get("rank", &c.optimizer.galore_rank));
    MNEMO_RETURN_IF_ERROR(g.get("update_interval", &c.optimizer.galore_update_interval));
    MNEMO_RETURN_IF_ERROR(g.get("scale", &c.optimizer.galore_scale));
    MNEMO_RETURN_IF_ERROR(g.get("proj_type", &c.optimizer.galore_proj_type));
    MNEMO_RETURN_IF_ERROR(g.check_unknown());
  }
  MNEMO_RETURN_IF_ERROR(o.check_unknown());

  MNEMO_ASSIGN_OR_RETURN(Obj e, root.child("eval"));
  MNEMO_RETURN_IF_ERROR(e.get("interval", &c.eval.interval));
  MNEMO_RETURN_IF_ERROR(e.get("batches", &c.eval.batches));
  MNEMO_RETURN_IF_ERROR(e.get("prompt", &c.eval.prompt));
  MNEMO_RETURN_IF_ERROR(e.get("sample_tokens", &c.eval.sample_tokens));
  MNEMO_RETURN_IF_ERROR(e.get("temperature", &c.eval.temperature));
  MNEMO_RETURN_IF_ERROR(e.check_unknown());

  MNEMO_ASSIGN_OR_RETURN(Obj k, root.child("checkpoint"));
  MNEMO_RETURN_IF_ERROR(k.get("dir", &c.checkpoint.dir));
  MNEMO_RETURN_IF_ERROR(k.get("interval", &c.checkpoint.interval));
  MNEMO_RETURN_IF_ERROR(k.get("keep", &c.checkpoint.keep));
  MNEMO_RETURN_IF_ERROR(k.get("mode", &c.checkpoint.mode));
  MNEMO_RETURN_IF_ERROR(k.check_unknown());

  MNEMO_RETURN_IF_ERROR(root.get("output", &c.output));
  MNEMO_RETURN_IF_ERROR(root.get("output_type", &c.output_type));
  MNEMO_RETURN_IF_ERROR(root.get("name", &c.name));
  MNEMO_RETURN_IF_ERROR(root.get("threads", &c.threads));
  MNEMO_RETURN_IF_ERROR(root.get("seed", &c.seed));
  MNEMO_RETURN_IF_ERROR(root.get("log", &c.log));
  MNEMO_RETURN_IF_ERROR(root.get("zero_stage", &c.zero_stage));
  MNEMO_RETURN_IF_ERROR(root.check_unknown());

  // Paths: ${VAR} expansion.
  MNEMO_RETURN_IF_ERROR(expand_in_place(&c.tokenizer, subject + ": tokenizer"));
  MNEMO_RETURN_IF_ERROR(expand_in_place(&c.model.init_from, subject + ": model.init_from"));
  for (std::string& p : c.data.train) MNEMO_RETURN_IF_ERROR(expand_in_place(&p, subject + ": data.train"));
  MNEMO_RETURN_IF_ERROR(expand_in_place(&c.data.val, subject + ": data.val"));
  MNEMO_RETURN_IF_ERROR(expand_in_place(&c.checkpoint.dir, subject + ": checkpoint.dir"));
  MNEMO_RETURN_IF_ERROR(expand_in_place(&c.output, subject + ": output"));
  MNEMO_RETURN_IF_ERROR(expand_in_place(&c.log, subject + ": log"));

  // Values.
  auto bad = [&](const char* key, const std::string& what) { return invalid_argument(subject + ": " + key + ": " + what); };
  if (c.model.init_from.empty()) {
    if (c.model.n_head_kv == 0) c.model.n_head_kv = c.model.n_head;
    train::TrainShape shape;
    shape.n_vocab = c.model.n_vocab;
    shape.n_embd = c.model.n_embd;
    shape.n_layer = c.model.n_layer;
    shape.n_head = c.model.n_head;
    shape.n_head_kv = c.model.n_head_kv;
    shape.n_ff = c.model.n_ff;
    shape.n_ctx = c.model.n_ctx;
    shape.rms_eps = static_cast<float>(c.model.rms_eps);
    shape.rope_base = static_cast<float>(c.model.rope_base);
    MNEMO_RETURN_IF_ERROR(train::validate_shape(shape, subject));
    if (c.seq_len > c.model.n_ctx) {
      return bad("seq_len", str_printf("expected at most model.n_ctx (%lld), found %lld",
                                       static_cast<long long>(c.model.n_ctx), static_cast<long long>(c.seq_len)));
    }
  } else {
    for (const char* k : {"n_vocab", "n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "n_ctx", "tied_output"}) {
      if (m.has(k)) {
        return bad((std::string("model.") + k).c_str(), "not allowed with model.init_from (the GGUF gives the shape)");
      }
    }
  }
  if (!(c.model.init_std > 0.0 && c.model.init_std < 10.0)) {
    return bad("model.init_std", str_printf("expected a value in (0, 10), found %g", c.model.init_std));
  }
  if (c.batch_size < 1 || c.batch_size > 65536) {
    return bad("batch_size", str_printf("expected 1..65536, found %lld", static_cast<long long>(c.batch_size)));
  }
  if (c.seq_len < 2 || c.seq_len > (1 << 20)) {
    return bad("seq_len", str_printf("expected 2..2^20, found %lld", static_cast<long long>(c.seq_len)));
  }
  if (c.grad_accum < 1 || c.grad_accum > 65536) {
    return bad("grad_accum", str_printf("expected 1..65536, found %lld", static_cast<long long>(c.grad_accum)));
  }
  if (c.steps < 1) return bad("steps", str_printf("expected a positive count, found %lld", static_cast<long long>(c.steps)));
  if (c.data.train.empty()) return bad("data.train", "expected at least one training file");
  if (c.data.split != "blank" && c.data.split != "line" && c.data.split != "none") {
    return bad("data.split", "expected \"blank\", \"line\" or \"none\", found \"" + c.data.split + "\"");
  }
  if (!(c.schedule.lr > 0.0 && c.schedule.lr < 10.0)) {
    return bad("schedule.lr", str_printf("expected a value in (0, 10), found %g", c.schedule.lr));
  }
  if (!(c.schedule.min_lr >= 0.0 && c.schedule.min_lr <= c.schedule.lr)) {
    return bad("schedule.min_lr", str_printf("expected a value in [0, lr], found %g", c.schedule.min_lr));
  }
  if (c.schedule.warmup < 0) return bad("schedule.warmup", "expected a non-negative step count");
  if (c.schedule.kind != "cosine" && c.schedule.kind != "constant") {
    return bad("schedule.kind", "expected \"cosine\" or \"constant\", found \"" + c.schedule.kind + "\"");
  }
  if (c.eval.interval < 0) return bad("eval.interval", "expected a non-negative step count");
  if (c.eval.batches < 0) return bad("eval.batches", "expected a non-negative count");
  if (c.eval.sample_tokens < 0 || c.eval.sample_tokens > 4096) return bad("eval.sample_tokens", "expected 0..4096");
  if (!(c.eval.temperature >= 0.0)) return bad("eval.temperature", "expected a non-negative value");
  if (c.checkpoint.interval < 0) return bad("checkpoint.interval", "expected a non-negative step count");
  if (c.checkpoint.keep < 0) return bad("checkpoint.keep", "expected a non-negative count");
  if (c.checkpoint.mode != "async" && c.checkpoint.mode != "sync") {
    return bad("checkpoint.mode", "expected \"async\" or \"sync\", found \"" + c.checkpoint.mode + "\"");
  }
  if (c.checkpoint.interval > 0 && c.checkpoint.dir.empty()) {
    return bad("checkpoint.dir", "expected a directory when checkpoint.interval is set");
  }
  if (c.output_type != "f16" && c.output_type != "f32") {
    return bad("output_type", "expected \"f16\" or \"f32\", found \"" + c.output_type + "\"");
  }
  if (c.threads < 0 || c.threads > 1024) return bad("threads", "expected 0..1024 (0: all CPUs)");
  if (c.zero_stage < 0 || c.zero_stage > 3) {
    return bad("zero_stage", str_printf("expected 0 (data parallel), 1 (sharded optimizer state), 2 (sharded "
                                        "gradients too) or 3 (sharded parameters too), found %lld",
                                        static_cast<long long>(c.zero_stage)));
  }
  if (c.zero_stage >= 1 && c.optimizer.type != "adamw") {
    return bad("zero_stage", str_printf("stage %lld shards AdamW's moments; optimizer.type \"%s\" runs under "
                                        "zero_stage 0 only", static_cast<long long>(c.zero_stage),
                                        c.optimizer.type.c_str()));
  }
  return c;
}

Expected<TrainConfig> load_train_config(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_train_config(text, path);
}

}  // namespace mnemo
