// mnemo info: what a model file holds: architecture, shapes, tensor types, bytes by class.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"
#include "mnemo/quantize.h"  // is_mnemo_only_type (issue 4)

namespace mnemo::cli {
namespace {

struct InfoOptions {
  std::string model;
  std::string tokenizer;
  bool json = false;
  bool tensors = false;
};

Status run(const InfoOptions& o) {
  ModelParams p;
  p.tokenizer_path = o.tokenizer;
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model, p));
  const ModelInfo& i = model->info();
  // mnemo's own tensor types (ids >= 100): only mnemo reads such a file.
  std::vector<std::string> mnemo_only;
  for (const auto& [type, bytes] : i.bytes_by_type) {
    if (is_mnemo_only_type(type)) mnemo_only.push_back(type);
  }
  if (o.json) {
    nlohmann::ordered_json j;
    j["path"] = i.path;
    j["format"] = i.format;
    j["arch"] = i.arch;
    j["name"] = i.name;
    j["n_vocab"] = i.n_vocab;
    j["n_embd"] = i.n_embd;
    j["n_layer"] = i.n_layer;
    j["n_head"] = i.n_head;
    j["n_head_kv"] = i.n_head_kv;
    j["head_dim"] = i.head_dim;
    j["n_ff"] = i.n_ff;
    j["n_ctx_train"] = i.n_ctx_train;
    j["rope"] = {{"n_rot", i.n_rot}, {"freq_base", i.rope_freq_base}, {"freq_scale", i.rope_freq_scale},
                 {"style", i.rope_style}, {"freq_factors", i.rope_freq_factors}};
    j["rms_eps"] = i.rms_eps;
    j["tied_output"] = i.tied_output;
    j["qkv_bias"] = i.qkv_bias;
    j["n_params"] = i.n_params;
    j["file_bytes"] = i.file_bytes;
    j["fingerprint"] = i.fingerprint;
    j["weight_bytes"] = i.weight_bytes;
    j["bytes_by_class"] = i.bytes_by_class;
    j["bytes_by_type"] = i.bytes_by_type;
    j["mnemo_only_types"] = mnemo_only;
    j["tokenizer"] = {{"kind", model->tokenizer().kind() == TokenizerKind::kSpm ? "spm" : "bpe"},
                      {"n_vocab", model->tokenizer().n_vocab()},
                      {"bos", model->tokenizer().bos()},
                      {"eos", model->tokenizer().eos()}};
    if (o.tensors) {
      nlohmann::ordered_json ts = nlohmann::ordered_json::array();
      for (const TensorSummary& t : i.tensors) {
        ts.push_back({{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"bytes", t.bytes}});
      }
      j["tensors"] = ts;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return Status::ok();
  }
  std::printf("%s: %s, %s%s%s\n", i.path.c_str(), i.format.c_str(), i.arch.c_str(), i.name.empty() ? "" : ", ",
              i.name.c_str());
  std::printf("  vocab %lld | embd %lld | layers %lld | heads %lld (kv %lld) x %lld | ffn %lld | context %lld\n",
              static_cast<long long>(i.n_vocab), static_cast<long long>(i.n_embd), static_cast<long long>(i.n_layer),
              static_cast<long long>(i.n_head), static_cast<long long>(i.n_head_kv), static_cast<long long>(i.head_dim),
              static_cast<long long>(i.n_ff), static_cast<long long>(i.n_ctx_train));
  std::printf("  rope %s, %lld dims, base %g, scale %g%s | rms eps %g | output %s%s\n", i.rope_style.c_str(),
              static_cast<long long>(i.n_rot), i.rope_freq_base, i.rope_freq_scale,
              i.rope_freq_factors ? ", per-pair frequency factors" : "", i.rms_eps,
              i.tied_output ? "tied to the embedding" : "separate", i.qkv_bias ? " | qkv bias" : "");
  std::printf("  %.3f M parameters, %s of weights in a %s file\n", i.n_params / 1e6, format_bytes(i.weight_bytes).c_str(),
              format_bytes(i.file_bytes).c_str());
  std::printf("  fingerprint %s (saved sessions are checked against it)\n", i.fingerprint.c_str());
  std::printf("  bytes by class:");
  for (const auto& [k, v] : i.bytes_by_class) std::printf(" %s %s;", k.c_str(), format_bytes(v).c_str());
  std::printf("\n  bytes by type:");
  for (const auto& [k, v] : i.bytes_by_type) std::printf(" %s %s;", k.c_str(), format_bytes(v).c_str());
  if (!mnemo_only.empty()) {
    std::string names;
    for (const std::string& t : mnemo_only) names += (names.empty() ? "" : ", ") + t;
    std::printf("\n  note: mnemo-only tensor types (%s): llama.cpp and other GGUF readers cannot load this file",
                names.c_str());
  }
  std::printf("\n  tokenizer: %s, %d tokens, bos %d, eos %d\n",
              model->tokenizer().kind() == TokenizerKind::kSpm ? "SentencePiece BPE" : "byte-level BPE",
              model->tokenizer().n_vocab(), model->tokenizer().bos(), model->tokenizer().eos());
  if (o.tensors) {
    for (const TensorSummary& t : i.tensors) {
      std::string shape;
      for (size_t d = 0; d < t.shape.size(); ++d) shape += (d ? " x " : "") + std::to_string(t.shape[d]);
      std::printf("  %-28s %-6s %-16s %s\n", t.name.c_str(), t.type.c_str(), shape.c_str(), format_bytes(t.bytes).c_str());
    }
  }
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  app.add_option("model,-m,--model", o->model, "Model file (GGUF or llama2.c .bin)")->required();
  app.add_option("-z,--tokenizer", o->tokenizer, "Tokenizer file (required for llama2.c checkpoints)");
  app.add_flag("--json", o->json, "Print JSON");
  app.add_flag("--tensors", o->tensors, "List every tensor");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("info", "Describe a model file: architecture, shapes, tensor types, bytes by class", setup);

}  // namespace mnemo::cli
