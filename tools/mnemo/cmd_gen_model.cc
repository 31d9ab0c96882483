// mnemo gen-model: random-weight models of real shapes, for throughput and loader work.
#include "command.h"
#include "mnemo/convert.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<GenModelParams>();
  std::string shapes;
  for (const ModelShape& s : model_shapes()) shapes += (shapes.empty() ? "" : "|") + s.name;
  app.add_option("--shape", o->shape, "Model shape: " + shapes)->capture_default_str();
  app.add_option("--dtype", o->dtype, "Type of the 2-D weights: F32|F16|BF16|Q8_0|Q4_0")->capture_default_str();
  app.add_option("-o,--output", o->output, "Output GGUF path")->required();
  app.add_option("--seed", o->seed, "Random seed")->capture_default_str();
  app.add_option("--arch", o->arch, "Architecture: llama (default) or qwen2 (NeoX RoPE, q/k/v biases)");
  app.add_option("--n-head-kv", o->n_head_kv, "Key/value heads (1 = MQA; default: the shape's)");
  app.add_option("--rope-scaling", o->rope_scaling_factor, "Linear RoPE scaling factor (default: none)");
  app.add_option("--rope-base", o->rope_freq_base, "RoPE frequency base (default 10000)");
  app.add_option("--tied", o->tied_output, "1: output head tied to the embedding; 0: separate (default: the shape's)");
  return [o] {
    ProgressBar bar("gen-model " + o->shape);
    return generate_model(*o, [&](uint64_t d, uint64_t t) { bar.update(d, t); });
  };
}

}  // namespace

MNEMO_COMMAND("gen-model", "Write a random-weight model of a real shape (GGUF)", setup);

}  // namespace mnemo::cli
