// mnemo pull: download a file (a model) with resume and an optional checksum.
#include "command.h"
#include "mnemo/download.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<DownloadParams>();
  app.add_option("url", o->url, "URL to download (http, https)")->required();
  app.add_option("-o,--output", o->output, "Where to write it")->required();
  app.add_option("--sha256", o->sha256, "Expected SHA-256 of the file (hex); the download is removed on mismatch");
  app.add_option("--timeout", o->timeout_seconds, "Give up after this many seconds (0: no limit)")->capture_default_str();
  return [o] {
    ProgressBar bar("pull");
    return download_file(*o, [&](uint64_t d, uint64_t t) { bar.update(d, t); });
  };
}

}  // namespace

MNEMO_COMMAND("pull", "Download a model file, resuming a partial download, checking its SHA-256", setup);

}  // namespace mnemo::cli
