// libFuzzer target: the long-term memory's derived store files, read back after a crash or from a
// damaged disk: the vector log (`vectors.bin`, ltm/vector_file.h) and the SPANN index's commit
// point (`spann.meta`, ltm/ann/spann_meta.h) opened together with the rest of a real index.
//
// The first byte chooses the file and whether the harness repairs the checksums after the
// mutation (so the fuzzer gets past them to the fields they protect):
//   bit 0: 0 = vectors.bin, 1 = spann.meta;  bit 1: fix checksums.
// vectors.bin is opened with VectorFile::open (dimension 8, space "fuzz"); every loaded vector must
// have that dimension. spann.meta replaces the metadata of a small valid index (built once, 600
// vectors, d = 8, in a temporary directory) and SpannIndex::open runs on the copy; when it opens,
// a search must return at most k neighbours, each an id the index was built with (or none), and
// stats must be sane. An error must name the file. Any crash, sanitizer report, or failed check is
// a finding.
//
// MNEMO_FUZZ_WRITE_SEEDS=DIR writes the valid files (with their selector byte) into DIR and exits:
// that is how fuzz/seeds/ltm_store_fuzz/ was made.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "ltm/ann/crc32c.h"
#include "ltm/ann/spann_index.h"
#include "ltm/vector_file.h"
#include "fuzz_check.h"

namespace {

constexpr int kDim = 8;
constexpr size_t kVectors = 600;
constexpr size_t kVecHeader = 128;
constexpr size_t kVecRecordHead = 32;
const char kSpace[] = "fuzz";

std::string g_root;                                // temporary directory of this process
std::string g_good;                                // the valid index
std::vector<std::pair<std::string, std::string>> g_index_files;  // name, bytes (spann.meta excluded)
std::string g_meta;                                // the valid spann.meta
std::string g_vectors;                             // a valid vectors.bin

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  FUZZ_CHECK(f.good());
}

uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Recomputes the header and record checksums of a vector log, walking records as the reader does.
void fix_vector_crcs(std::string* s) {
  auto* p = reinterpret_cast<uint8_t*>(s->data());
  if (s->size() < kVecHeader) return;
  put_u32(p + kVecHeader - 4, mnemo::ltm::crc32(p, kVecHeader - 4));
  size_t off = kVecHeader;
  while (s->size() - off >= kVecRecordHead + 4) {
    uint32_t op = get_u32(p + off + 4);
    size_t len = op == 1 ? kVecRecordHead + 4 * kDim + 4 : op == 2 ? kVecRecordHead + 4 : 0;
    if (len == 0 || s->size() - off < len) return;
    put_u32(p + off + len - 4, mnemo::ltm::crc32(p + off, len - 4));
    off += len;
  }
}

bool names_file(const std::string& message, const std::string& path) {
  return message.find(path) != std::string::npos || message.find("spann") != std::string::npos ||
         message.find("posting") != std::string::npos || message.find("centroid") != std::string::npos ||
         message.find("graph") != std::string::npos;
}

void fuzz_vectors(std::string bytes, bool fix) {
  if (fix) fix_vector_crcs(&bytes);
  const std::string path = g_root + "/vectors.bin";
  spit(path, bytes.data(), bytes.size());
  std::unordered_map<uint64_t, mnemo::ltm::VectorFile::Entry> out;
  mnemo::ltm::VectorFile::LoadStats stats;
  auto f = mnemo::ltm::VectorFile::open(path, kDim, kSpace, &out, &stats);
  if (!f) {
    FUZZ_CHECK(f.status().message().find(path) != std::string::npos);
    return;
  }
  FUZZ_CHECK(stats.truncated_bytes <= bytes.size());
  for (const auto& [id, e] : out) FUZZ_CHECK(e.vec.size() == size_t(kDim));
  // The file stays appendable after a cut tail.
  std::vector<float> v(kDim, 0.5f);
  FUZZ_CHECK((*f)->put(1, 1, 1, v).is_ok());
  FUZZ_CHECK((*f)->write_out().is_ok());
}

void fuzz_meta(std::string bytes, bool fix) {
  if (fix && bytes.size() >= 4) {
    uint32_t crc = mnemo::ltm::ann::crc32c(bytes.data(), bytes.size() - 4);
    put_u32(reinterpret_cast<uint8_t*>(bytes.data()) + bytes.size() - 4, crc);
  }
  const std::string dir = g_root + "/work";
  mkdir(dir.c_str(), 0755);
  for (const auto& [name, data] : g_index_files) spit(dir + "/" + name, data.data(), data.size());
  spit(dir + "/spann.meta", bytes.data(), bytes.size());
  mnemo::ltm::ann::SpannOpenOptions o;
  o.direct_io = false;  // tmpfs has no O_DIRECT; the reads are the same code
  auto idx = mnemo::ltm::ann::SpannIndex::open(dir, o);
  if (!idx) {
    FUZZ_CHECK(names_file(idx.status().message(), dir));
    return;
  }
  FUZZ_CHECK((*idx)->dim() > 0);
  if ((*idx)->dim() != kDim) return;
  std::vector<float> q(kDim, 0.25f);
  mnemo::ltm::SearchOptions so;
  so.k = 10;
  so.max_probes = 8;
  auto r = (*idx)->search(q, so);
  if (r) {
    FUZZ_CHECK(r->size() <= 10);
    for (const auto& n : *r) FUZZ_CHECK(n.id >= 1 && n.id <= kVectors);
  } else {
    FUZZ_CHECK(!r.status().message().empty());
  }
  (void)(*idx)->stats();
}

void build_good() {
  char tmpl[] = "/tmp/mnemo-ltm-store-fuzz-XXXXXX";
  FUZZ_CHECK(mkdtemp(tmpl) != nullptr);
  g_root = tmpl;
  g_good = g_root + "/good";
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  std::vector<float> vecs(kVectors * kDim);
  std::vector<uint64_t> ids(kVectors);
  for (size_t i = 0; i < kVectors; ++i) {
    ids[i] = i + 1;
    for (int d = 0; d < kDim; ++d) vecs[i * kDim + size_t(d)] = nd(rng) + float(i % 6) * 3.0f;
  }
  mnemo::ltm::ann::SpannParams p;
  p.leaf_size = 16;
  p.direct_io = false;
  {
    auto idx = mnemo::ltm::ann::SpannIndex::build(g_good, kDim, p, vecs.data(), ids.data(), kVectors, 1, nullptr);
    FUZZ_CHECK(idx);
  }
  DIR* d = opendir(g_good.c_str());
  FUZZ_CHECK(d != nullptr);
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name == "LOCK") continue;
    if (name == "spann.meta") g_meta = slurp(g_good + "/" + name);
    else g_index_files.emplace_back(name, slurp(g_good + "/" + name));
  }
  closedir(d);
  FUZZ_CHECK(!g_meta.empty());
  std::unordered_map<uint64_t, mnemo::ltm::VectorFile::Entry> entries;
  for (size_t i = 0; i < 20; ++i) {
    mnemo::ltm::VectorFile::Entry e;
    e.seq = i + 1;
    e.corpus_n = i;
    e.vec.assign(vecs.begin() + long(i * kDim), vecs.begin() + long((i + 1) * kDim));
    entries[i + 1] = e;
  }
  {
    auto vf = mnemo::ltm::VectorFile::rewrite(g_root + "/vectors.bin", kDim, kSpace, entries);
    FUZZ_CHECK(vf);
    FUZZ_CHECK((*vf)->remove(3, 30).is_ok());
    FUZZ_CHECK((*vf)->write_out().is_ok());
  }
  g_vectors = slurp(g_root + "/vectors.bin");
}

void remove_tree(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string p = dir + "/" + name;
    struct stat st;
    if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
    else unlink(p.c_str());
  }
  closedir(d);
  rmdir(dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  build_good();
  std::atexit([] { remove_tree(g_root); });
  if (const char* out = std::getenv("MNEMO_FUZZ_WRITE_SEEDS")) {
    std::string v = std::string(1, '\x02') + g_vectors;  // vectors.bin, fix checksums
    std::string m = std::string(1, '\x03') + g_meta;     // spann.meta, fix checksums
    spit(std::string(out) + "/vectors_bin", v.data(), v.size());
    spit(std::string(out) + "/spann_meta", m.data(), m.size());
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (sel & 1) fuzz_meta(std::move(bytes), (sel & 2) != 0);
  else fuzz_vectors(std::move(bytes), (sel & 2) != 0);
  return 0;
}
