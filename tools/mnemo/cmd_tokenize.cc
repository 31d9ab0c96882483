// mnemo tokenize: text files -> a token file for training (documents without BOS; the loader puts
// BOS between them). Like llm.c's pretokenized shards.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "mnemo/train.h"
#include "mnemo/util.h"

namespace mnemo::cli {
namespace {

struct TokenizeOptions {
  TokenizeParams p;
  bool json = false;
};

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  app.add_option("inputs", o->p.inputs, "Text files")->required();
  app.add_option("-m,--model", o->p.tokenizer, "Tokenizer: a tokenizer.bin or any GGUF with a vocabulary")->required();
  app.add_option("-o,--output", o->p.output, "Token file to write")->required();
  app.add_option("--split", o->p.split, "Documents: blank (separated by empty lines), line, none")
      ->capture_default_str()
      ->check(CLI::IsMember({"blank", "line", "none"}));
  app.add_flag("--json", o->json, "Print one JSON line {documents, tokens, n_vocab, text_bytes}");
  return [o]() -> Status {
    const double t0 = now_seconds();
    MNEMO_ASSIGN_OR_RETURN(TokenizeReport r, tokenize_files(o->p));
    if (o->json) {
      nlohmann::ordered_json j;
      j["documents"] = r.documents;
      j["tokens"] = r.tokens;
      j["n_vocab"] = r.n_vocab;
      j["text_bytes"] = r.text_bytes;
      j["output"] = o->p.output;
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s: %lld documents, %lld tokens (vocabulary %d) from %s of text, %.2f bytes per token, %.1f s\n",
                  o->p.output.c_str(), static_cast<long long>(r.documents), static_cast<long long>(r.tokens), r.n_vocab,
                  format_bytes(r.text_bytes).c_str(),
                  r.tokens > 0 ? static_cast<double>(r.text_bytes) / static_cast<double>(r.tokens) : 0.0,
                  now_seconds() - t0);
    }
    return Status::ok();
  };
}

}  // namespace

MNEMO_COMMAND("tokenize", "Tokenize text files into a token file for training", setup);

}  // namespace mnemo::cli
