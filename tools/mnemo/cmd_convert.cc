// mnemo convert: a llama2.c checkpoint (+ tokenizer.bin) to GGUF.
#include "command.h"
#include "mnemo/convert.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<ConvertParams>();
  app.add_option("input", o->input, "llama2.c checkpoint (.bin)")->required();
  app.add_option("-z,--tokenizer", o->tokenizer, "Its tokenizer (tokenizer.bin)")->required();
  app.add_option("-o,--output", o->output, "Output GGUF path")->required();
  app.add_option("--ctx", o->n_ctx, "Context length to record (0: the checkpoint's seq_len)")->capture_default_str();
  app.add_option("--name", o->name, "general.name (default: the input's file name)");
  return [o] {
    ProgressBar bar("convert");
    return convert_llama2c_to_gguf(*o, [&](uint64_t d, uint64_t t) { bar.update(d, t); });
  };
}

}  // namespace

MNEMO_COMMAND("convert", "Convert a llama2.c checkpoint and its tokenizer to GGUF", setup);

}  // namespace mnemo::cli
