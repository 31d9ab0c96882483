// libFuzzer target: the KV session file reader (formats/kv_session.h) on arbitrary bytes.
//
// The input is written to an in-memory file and opened by path. On success every region of every
// layer is read back; on failure the message must name the file. Any crash, sanitizer report or
// failed check is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "formats/kv_session.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("kvs", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(size == 0 || write(fd, data, size) == static_cast<ssize_t>(size));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto r = mnemo::KvSessionReader::open(path);
  if (!r.has_value()) {
    FUZZ_CHECK(r.status().message().find(path) != std::string::npos);
  } else {
    const mnemo::KvSessionHeader& h = r->header();
    FUZZ_CHECK(h.n_slots <= h.n_pos && h.layer_bytes() * static_cast<uint64_t>(h.n_layer) <= size);
    for (int64_t l = 0; l < h.n_layer; ++l) {
      const uint64_t sizes[3] = {static_cast<uint64_t>(h.n_slots * h.row_bytes_k),
                                 static_cast<uint64_t>(h.n_slots * h.row_bytes_v),
                                 static_cast<uint64_t>(h.score_floats) * 4};
      for (int reg = 0; reg < 3; ++reg) {
        std::vector<uint8_t> buf(sizes[reg]);
        FUZZ_CHECK(r->read(l, static_cast<mnemo::KvRegion>(reg), buf).is_ok());
      }
    }
  }
  close(fd);
  return 0;
}
