// runtime/quantize.cc: mnemo::quantize_model (include/mnemo/quantize.h): loads the input as any
// model Model::load reads and hands its file, config, weight views and tokenizer to the quantizer
// in compress/model_quantizer.h. A llama2.c checkpoint is first converted to a temporary GGUF
// beside the output (removed afterwards), so its metadata is written exactly as `mnemo convert`
// writes it.
#include <cstdio>
#include <cstring>

#include "base/file.h"
#include "compress/model_quantizer.h"
#include "mnemo/convert.h"
#include "mnemo/quantize.h"
#include "runtime/model_impl.h"

namespace mnemo {
namespace {

bool starts_with_gguf_magic(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  const size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  return n == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() {
    if (!path.empty()) std::remove(path.c_str());
  }
};

}  // namespace

Status quantize_model(const QuantizeParams& params, QuantizeReport* report, const ProgressFn& progress) {
  if (params.input.empty()) return invalid_argument("quantize: expected an input model");
  if (params.output.empty()) return invalid_argument("quantize: expected an output path");
  // The type alone (divisibility is checked once the model's width is known).
  MNEMO_RETURN_IF_ERROR(compress::parse_type(params.type, params.group, 0).status());
  std::string input = params.input;
  RemoveOnExit temp;
  MNEMO_RETURN_IF_ERROR(check_openable_file(input, "model file"));
  if (!starts_with_gguf_magic(input)) {
    ConvertParams cp;
    cp.input = input;
    cp.tokenizer = params.tokenizer;
    cp.output = params.output + ".convert.tmp";
    temp.path = cp.output;
    MNEMO_RETURN_IF_ERROR(convert_llama2c_to_gguf(cp));
    input = cp.output;
  }
  ModelParams mp;
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(input, mp));
  const Model::Impl& impl = model->impl();
  if (!impl.gguf) return internal_error(input + ": expected a GGUF-backed model");
  compress::SourceModel src;
  src.file = impl.gguf.get();
  src.config = impl.model->config();
  src.weights = impl.model->weights();
  src.tokenizer = impl.tokenizer.get();
  return compress::quantize_source(src, params, report, progress);
}

}  // namespace mnemo
