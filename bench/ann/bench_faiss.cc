// faiss 1.7.3 (Debian libfaiss-dev) IVF-Flat, with inverted lists in RAM or on disk
// (OnDiskInvertedLists: an mmapped file, so its pages live in the page cache) for the benchmark.
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/index_io.h>
#include <faiss/invlists/OnDiskInvertedLists.h>
#include <fcntl.h>
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <memory>
#include <random>

#include "bench_common.h"

namespace mnemo::ann_bench {

int build_faiss(const Args& a, bool on_disk) {
  auto base = load_fvecs(a.str("base"), size_t(a.num("n", 0)));
  const int d = base.dim;
  // Default nlist: the power of two nearest 4 * sqrt(n) (faiss's guideline; 4096 at 1M, 512 at 10k).
  const size_t auto_nlist = size_t(1) << size_t(std::lround(std::log2(4.0 * std::sqrt(double(base.n)))));
  const size_t nlist = size_t(a.num("ivf-nlist", (long long)std::max<size_t>(1, std::min(auto_nlist, base.n))));
  const size_t n_train = std::min<size_t>(base.n, size_t(a.num("ivf-train", 256 * 1024)));
  omp_set_num_threads(int(a.num("threads", 2)));
  const double t0 = now_seconds();
  faiss::IndexFlatL2 quantizer(d);
  faiss::IndexIVFFlat index(&quantizer, d, nlist);
  std::vector<float> train(n_train * size_t(d));
  {
    std::vector<size_t> rows(base.n);
    for (size_t i = 0; i < base.n; ++i) rows[i] = i;
    std::mt19937_64 rng(1);
    for (size_t i = 0; i < n_train; ++i) {
      std::swap(rows[i], rows[i + rng() % (base.n - i)]);
      std::copy(base.row(rows[i]), base.row(rows[i]) + d, train.data() + i * size_t(d));
    }
  }
  index.train(faiss::Index::idx_t(n_train), train.data());
  std::vector<float>().swap(train);
  index.add(faiss::Index::idx_t(base.n), base.data.data());
  const std::string path = a.str("index");
  uint64_t disk = 0;
  if (on_disk) {
    const std::string data_path = path + ".ivfdata";
    ::unlink(data_path.c_str());
    auto* od = new faiss::OnDiskInvertedLists(nlist, index.code_size, data_path.c_str());
    const faiss::InvertedLists* ils[1] = {index.invlists};
    od->merge_from(ils, 1);
    index.replace_invlists(od, true);
    disk = od->totsize;
  }
  const double t1 = now_seconds();
  faiss::write_index(&index, path.c_str());
  auto j = memory_json();
  j.update({{"kind", "build"},
            {"seconds", t1 - t0},
            {"disk_bytes", disk},
            {"params", "nlist " + std::to_string(nlist) + ", trained on " + std::to_string(n_train)}});
  emit(j);
  return 0;
}

int search_faiss(const Args& a, bool on_disk) {
  const std::string path = a.str("index");
  if (on_disk) {
    // Start cold: the build left the list file in the page cache.
    const std::string data_path = path + ".ivfdata";
    int fd = ::open(data_path.c_str(), O_RDONLY);
    if (fd >= 0) {
      ::fdatasync(fd);
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }
  omp_set_num_threads(1);
  const double t0 = now_seconds();
  std::unique_ptr<faiss::Index> idx(faiss::read_index(path.c_str()));
  const double load_s = now_seconds() - t0;
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx.get());
  if (ivf == nullptr) die(path + ": expected an IVF index");
  const int k = int(a.num("k", 10));
  std::vector<float> dist(static_cast<size_t>(k));
  std::vector<faiss::Index::idx_t> lab(static_cast<size_t>(k));
  SearchHooks h;
  h.set_effort = [&](double e) { ivf->nprobe = size_t(e); };
  h.search_one = [&](const float* q, int64_t* out) {
    ivf->search(1, q, k, dist.data(), lab.data());
    for (int i = 0; i < k; ++i) out[i] = lab[size_t(i)];
  };
  run_sweep(on_disk ? "ivf-disk" : "ivf", a, h);
  auto j = memory_json();
  j.update({{"kind", "search_done"}, {"load_seconds", load_s}});
  emit(j);
  return 0;
}

}  // namespace mnemo::ann_bench
