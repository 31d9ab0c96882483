#include "mnemo/sampler.h"

#include "model/sampler.h"

namespace mnemo {

struct Sampler::Impl {
  TokenSampler s;
};

Sampler::Sampler(int32_t n_vocab, const SamplerParams& p)
    : impl_(new Impl{TokenSampler(n_vocab, SamplingParams{p.temperature, p.top_k, p.top_p, p.min_p, p.repeat_penalty,
                                                          p.repeat_last_n, p.seed})}) {}
Sampler::~Sampler() = default;
Token Sampler::sample(std::span<const float> logits) { return impl_->s.sample(logits); }
void Sampler::accept(Token t) { impl_->s.accept(t); }
void Sampler::reset() { impl_->s.reset(); }

}  // namespace mnemo
