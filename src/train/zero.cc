#include "train/zero.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/strings.h"

namespace mnemo::train {

ZeroStateBytes zero_state_bytes(int stage, int64_t n, int ranks) {
  const uint64_t P = static_cast<uint64_t>(n) * 4;
  const uint64_t S = static_cast<uint64_t>((n + ranks - 1) / ranks) * 4;  // one shard, bytes
  ZeroStateBytes b;
  b.parameters = stage >= 3 ? S : P;
  b.gradients = stage >= 2 ? S : P;
  b.optimizer = stage >= 1 ? 2 * S : 2 * P;
  return b;
}

Status validate_zero(int stage, int ranks, const OptimizerSettings& o, const std::string& subject) {
  if (stage < 0 || stage > kMaxZeroStage) {
    return invalid_argument(str_printf("%s: zero_stage: expected 0, 1, 2 or 3 (plain data parallel, sharded optimizer "
                                       "state, sharded gradients, sharded parameters), found %d",
                                       subject.c_str(), stage));
  }
  if (ranks < 1) return invalid_argument(subject + ": expected at least one rank");
  if (stage >= 1 && o.type != "adamw") {
    return invalid_argument(str_printf("%s: zero_stage: %d shards AdamW's moments by element; optimizer.type \"%s\" "
                                       "runs under zero_stage 0 only",
                                       subject.c_str(), stage, o.type.c_str()));
  }
  return Status::ok();
}

ZeroBuckets zero_buckets(const ParamLayout& layout) {
  // The ranges backward opens (graph.h): each layer [attn_norm(l), attn_norm(l+1)), the head
  // [output_norm, n), and the embedding [0, n_vocab d), which gets its own buffer when tied.
  std::vector<int64_t> starts;
  for (const ParamInfo& t : layout.tensors()) {
    if (t.layer >= 0 && t.name.size() >= 16 && t.name.compare(t.name.size() - 16, 16, "attn_norm.weight") == 0) {
      starts.push_back(t.offset);
    }
  }
  starts.push_back(layout.output_norm());
  ZeroBuckets b;
  b.main = layout.n_params() - layout.output_norm();
  for (size_t i = 0; i + 1 < starts.size(); ++i) b.main = std::max(b.main, starts[i + 1] - starts[i]);
  const int64_t embd = layout.tensors().front().numel();  // token_embd comes first
  if (layout.find("output.weight") == nullptr) {
    b.embedding = embd;
  } else {
    b.main = std::max(b.main, embd);
  }
  return b;
}

// Stage 2's GradSink: each range backward closes is reduce-scattered at once (uneven blocks: the
// range's overlap with each rank's shard) and the owned part added to the gradient shard.
class ZeroEngine::BucketSink final : public GradSink {
 public:
  BucketSink(ZeroEngine& z, const ParamLayout& layout, bool tied) : z_(z), tied_(tied) {
    const ZeroBuckets b = zero_buckets(layout);
    embd_begin_ = layout.token_embd();
    if (tied) embd_.resize(b.embedding);
    main_.resize(b.main);
  }
  float* open(int64_t begin, int64_t end) override {
    float* b = (tied_ && begin == embd_begin_) ? embd_.data() : main_.data();
    std::memset(b, 0, static_cast<size_t>(end - begin) * sizeof(float));
    return b;
  }
  void close(int64_t begin, int64_t end) override {
    float* b = (tied_ && begin == embd_begin_) ? embd_.data() : main_.data();
    const int64_t r0 = static_cast<int64_t>(z_.comm_.rank()) * z_.S_;
    z_.reduce_scatter_range(b, begin, end, [&](int64_t lo, const float* sum, int64_t own) {
      float* g = z_.grads_.data() + (lo - r0);
      for (int64_t i = 0; i < own; ++i) g[i] += sum[i];
    });
  }
  uint64_t bytes() const { return main_.bytes() + embd_.bytes(); }

 private:
  ZeroEngine& z_;
  FloatBuffer main_, embd_;
  int64_t embd_begin_ = 0;
  bool tied_ = false;
};

// Stage 3's ParamSource: each range is all-gathered (uneven blocks: the range's overlap with each
// rank's shard) into a buffer right before use; the buffer is reused by the next range.
class ZeroEngine::GatherSource final : public ParamSource {
 public:
  GatherSource(ZeroEngine& z, const ParamLayout& layout, bool tied) : z_(z), tied_(tied) {
    const ZeroBuckets b = zero_buckets(layout);
    embd_begin_ = layout.token_embd();
    if (tied) embd_.resize(b.embedding);
    main_.resize(b.main);
  }
  const float* acquire(int64_t begin, int64_t end) override {
    float* b = (tied_ && begin == embd_begin_) ? embd_.data() : main_.data();
    const int64_t r0 = static_cast<int64_t>(z_.comm_.rank()) * z_.S_;
    const int64_t lo = std::max(begin, r0), hi = std::min(end, r0 + z_.S_);
    if (lo < hi) std::memcpy(b + (lo - begin), z_.params_.data() + (lo - r0), static_cast<size_t>(hi - lo) * sizeof(float));
    z_.all_gather_range(b, begin, end);
    return b;
  }
  void release(int64_t, int64_t) override {}
  uint64_t bytes() const { return main_.bytes() + embd_.bytes(); }

 private:
  ZeroEngine& z_;
  FloatBuffer main_, embd_;
  int64_t embd_begin_ = 0;
  bool tied_ = false;
};

namespace {
class FullSource final : public ParamSource {
 public:
  explicit FullSource(const float* p) : p_(p) {}
  const float* acquire(int64_t begin, int64_t) override { return p_ + begin; }
  void release(int64_t, int64_t) override {}

 private:
  const float* p_;
};

class FullSink final : public GradSink {
 public:
  explicit FullSink(float* g) : g_(g) {}
  float* open(int64_t begin, int64_t) override { return g_ + begin; }
  void close(int64_t, int64_t) override {}

 private:
  float* g_;
};
}  // namespace

ZeroEngine::ZeroEngine(Comm& comm, int stage, const ParamLayout& layout)
    : comm_(comm), stage_(stage), layout_(layout) {
  const int N = comm.size(), r = comm.rank();
  n_ = layout.n_params();
  S_ = (n_ + N - 1) / N;
  n_pad_ = S_ * N;
  own0_ = std::min<int64_t>(n_, r * S_);
  own1_ = std::min<int64_t>(n_, (r + 1) * S_);
}

ZeroEngine::~ZeroEngine() = default;

Expected<std::unique_ptr<ZeroEngine>> ZeroEngine::create(Comm& comm, int stage, const OptimizerSettings& o,
                                                         const ParamLayout& layout, int n_threads,
                                                         const std::string& subject) {
  MNEMO_RETURN_IF_ERROR(validate_zero(stage, comm.size(), o, subject));
  std::unique_ptr<ZeroEngine> z(new ZeroEngine(comm, stage, layout));
  MNEMO_RETURN_IF_ERROR(z->init_optimizer(o, n_threads, subject));
  return z;
}

Status ZeroEngine::init_optimizer(const OptimizerSettings& o, int n_threads, const std::string& subject) {
  o_ = o;
  params_.resize(stage_ >= 3 ? S_ : n_pad_);
  const bool tied = layout_.find("output.weight") == nullptr;
  if (stage_ >= 3) {
    source_ = std::make_unique<GatherSource>(*this, layout_, tied);
  } else {
    source_ = std::make_unique<FullSource>(params_.data());
  }
  if (stage_ == 0) {
    MNEMO_ASSIGN_OR_RETURN(full_opt_, Optimizer::create(o, layout_, n_threads, subject));
  } else {
    MNEMO_RETURN_IF_ERROR(validate_optimizer(o, layout_, subject));
    m_.resize(S_);
    v_.resize(S_);
  }
  if (stage_ >= 2) {
    grads_.resize(S_);
    sink_ = std::make_unique<BucketSink>(*this, layout_, tied);
  } else {
    grads_.resize(n_pad_);
    sink_ = std::make_unique<FullSink>(grads_.data());
  }
  return Status::ok();
}

void ZeroEngine::begin_step() { grads_.zero(); }

GradSink& ZeroEngine::sink() { return *sink_; }

ParamSource& ZeroEngine::source() { return *source_; }

const float* ZeroEngine::full_params(FloatBuffer& scratch) {
  if (stage_ < 3) return params_.data();
  scratch.resize(n_pad_);
  std::memcpy(scratch.data() + comm_.rank() * S_, params_.data(), static_cast<size_t>(S_) * sizeof(float));
  all_gather_range(scratch.data(), 0, n_pad_);
  return scratch.data();
}

void ZeroEngine::set_from_full(const float* full) {
  if (stage_ < 3) {
    if (full != params_.data()) std::memcpy(params_.data(), full, static_cast<size_t>(n_) * sizeof(float));
    return;
  }
  const int64_t own = own1_ - own0_;
  if (own > 0) std::memcpy(params_.data(), full + own0_, static_cast<size_t>(own) * sizeof(float));
}

Expected<double> ZeroEngine::finish_step(float lr, ThreadPool& pool) {
  const int N = comm_.size();
  const float mean = 1.0f / static_cast<float>(N);
  auto scale = [&](float* x, int64_t n) {
    if (N == 1) return;
    pool.parallel_for(n, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] *= mean;
    });
  };
  if (stage_ == 0) {
    for (int64_t a = 0; a < n_; a += kCommChunk) {
      comm_.all_reduce_sum(grads_.data() + a, std::min(kCommChunk, n_ - a));
    }
    scale(grads_.data(), n_);
    return full_opt_->step(params_.data(), grads_.data(), lr, pool);
  }
  float* g = grads_.data();
  if (stage_ == 1) {  // the owned sums are moved to their own place, [r S, (r+1) S)
    reduce_scatter_range(g, 0, n_pad_, [&](int64_t lo, const float* sum, int64_t own) {
      std::memmove(g + lo, sum, static_cast<size_t>(own) * sizeof(float));
    });
    g += static_cast<int64_t>(comm_.rank()) * S_;
  }
  scale(g, S_);
  MNEMO_ASSIGN_OR_RETURN(double norm, sharded_adamw(g, lr, pool));
  if (stage_ < 3) all_gather_range(params_.data(), 0, n_pad_);  // every rank's updated shard, in place
  return norm;
}

std::vector<int> ZeroEngine::block_counts(int64_t a, int64_t b) const {
  std::vector<int> counts(static_cast<size_t>(comm_.size()));
  for (int k = 0; k < comm_.size(); ++k) {
    const int64_t lo = std::max(a, k * S_), hi = std::min(b, (k + 1) * S_);
    counts[static_cast<size_t>(k)] = static_cast<int>(std::max<int64_t>(0, hi - lo));
  }
  return counts;
}

void ZeroEngine::reduce_scatter_range(float* buf, int64_t begin, int64_t end,
                                      const std::function<void(int64_t, const float*, int64_t)>& take) {
  const int r = comm_.rank();
  for (int64_t a = begin; a < end; a += kCommChunk) {
    const int64_t b = std::min(end, a + kCommChunk);
    const std::vector<int> counts = block_counts(a, b);
    float* x = buf + (a - begin);
    comm_.reduce_scatter(x, counts);  // this rank's sums land at x
    const int64_t own = counts[static_cast<size_t>(r)];
    if (own > 0) take(std::max(a, static_cast<int64_t>(r) * S_), x, own);
  }
}

void ZeroEngine::all_gather_range(float* buf, int64_t begin, int64_t end) {
  for (int64_t a = begin; a < end; a += kCommChunk) {
    comm_.all_gather_v(buf + (a - begin), block_counts(a, std::min(end, a + kCommChunk)));
  }
}

// AdamW on the owned elements [own0_, own1_); g and m, v are indexed from own0_.
Expected<double> ZeroEngine::sharded_adamw(float* g, float lr, ThreadPool& pool) {
  const int64_t n = own1_ - own0_;
  double sq = 0.0;
  if (n > 0) {
    const double part = global_norm(g, n, pool);
    sq = part * part;
  }
  comm_.all_reduce_sum(&sq, 1);
  const double norm = std::sqrt(sq);
  if (o_.grad_clip > 0.0f) {
    const double coef = static_cast<double>(o_.grad_clip) / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = static_cast<float>(coef);
      pool.parallel_for(n, 1024, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) g[i] *= c;
      });
    }
  }
  ++t_;
  float* p = stage_ >= 3 ? params_.data() : params_.data() + own0_;  // indexed from own0_
  pool.parallel_for(n, 1024, [&](int64_t b, int64_t e) {
    const int64_t gb = own0_ + b, ge = own0_ + e;  // layout elements
    for (const ParamInfo& t : layout_.tensors()) {
      const int64_t tb = std::max(gb, t.offset), te = std::min(ge, t.offset + t.numel());
      if (tb >= te) continue;
      const int64_t k = tb - own0_;
      adamw_update(o_, t_, t.is_matrix(), te - tb, p + k, g + k, m_.data() + k, v_.data() + k, lr);
    }
  });
  return norm;
}

ZeroStateBytes ZeroEngine::allocated() const {
  ZeroStateBytes b;
  b.parameters = static_cast<uint64_t>(stage_ >= 3 ? S_ : n_) * 4;
  b.gradients = static_cast<uint64_t>(stage_ >= 2 ? S_ : n_) * 4;
  b.optimizer = stage_ == 0 ? full_opt_->state_bytes() : m_.bytes() + v_.bytes();
  return b;
}

uint64_t ZeroEngine::bucket_bytes() const {
  uint64_t b = stage_ >= 2 ? static_cast<const BucketSink*>(sink_.get())->bytes() : 0;
  if (stage_ >= 3) b += static_cast<const GatherSource*>(source_.get())->bytes();
  return b;
}

uint64_t ZeroEngine::optimizer_workspace_bytes() const { return full_opt_ ? full_opt_->workspace_bytes() : 0; }

int64_t ZeroEngine::steps_taken() const { return full_opt_ ? full_opt_->steps_taken() : t_; }

void ZeroEngine::set_steps_taken(int64_t t) {
  if (full_opt_) full_opt_->set_steps_taken(t);
  t_ = t;
}

std::vector<StateTensor> ZeroEngine::full_state_shape() const {
  if (full_opt_) return full_opt_->state();
  return {{"adamw.m", nullptr, n_}, {"adamw.v", nullptr, n_}};
}

Status ZeroEngine::save(const std::string& path, const CheckpointMeta& meta) {
  return with_full_state([&](const float* params, const std::vector<StateTensor>& state) {
    return save_checkpoint(path, meta, params, state);
  });
}

Status ZeroEngine::with_full_state(const FullStateFn& f) {
  if (full_opt_) {
    if (comm_.rank() != 0) return Status::ok();
    return f(params_.data(), full_opt_->state());
  }
  if (comm_.size() == 1) return f(params_.data(), {{"adamw.m", m_.data(), n_}, {"adamw.v", v_.data(), n_}});
  // Temporary full moments (8P bytes while saving; stage 3 also 4P of parameters), gathered.
  FloatBuffer full;
  const float* params = full_params(full);
  FloatBuffer m(n_pad_), v(n_pad_);
  const int64_t at = static_cast<int64_t>(comm_.rank()) * S_;
  std::memcpy(m.data() + at, m_.data(), static_cast<size_t>(S_) * sizeof(float));
  std::memcpy(v.data() + at, v_.data(), static_cast<size_t>(S_) * sizeof(float));
  all_gather_range(m.data(), 0, n_pad_);
  all_gather_range(v.data(), 0, n_pad_);
  if (comm_.rank() != 0) return Status::ok();
  return f(params, {{"adamw.m", m.data(), n_}, {"adamw.v", v.data(), n_}});
}

Status ZeroEngine::load(const std::string& path, const CheckpointMeta& meta) {
  if (full_opt_) return load_checkpoint(path, meta, params_.data(), full_opt_->state());
  FloatBuffer m(n_), v(n_), full;
  if (stage_ >= 3) full.resize(n_);
  float* params = stage_ >= 3 ? full.data() : params_.data();
  MNEMO_RETURN_IF_ERROR(
      load_checkpoint(path, meta, params, {{"adamw.m", m.data(), n_}, {"adamw.v", v.data(), n_}}));
  if (stage_ >= 3) set_from_full(params);
  const int64_t own = own1_ - own0_;
  if (own > 0) {
    std::memcpy(m_.data(), m.data() + own0_, static_cast<size_t>(own) * sizeof(float));
    std::memcpy(v_.data(), v.data() + own0_, static_cast<size_t>(own) * sizeof(float));
  }
  return Status::ok();
}

}  // namespace mnemo::train
