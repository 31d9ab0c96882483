// mnemo/download.h: fetching a file the user asked for (mnemo pull), with resume and checksum.
// Nothing in mnemo downloads anything unless asked to.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "mnemo/status.h"

namespace mnemo {

struct DownloadParams {
  std::string url;
  std::string output;
  std::string sha256;           // expected hex digest; empty = not checked
  long timeout_seconds = 0;     // 0: none (a stalled transfer still times out after 60 s)
};

// Downloads url to output. Bytes arrive in "<output>.part"; an interrupted download resumes from
// it (HTTP Range) when called again. On success the file is fsynced, its SHA-256 checked, and it
// is renamed to output. On a checksum mismatch the partial file is removed and nothing is left at
// output. progress(done, total) is called as bytes arrive (total 0 when unknown).
Status download_file(const DownloadParams& params, const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace mnemo
