#include "ltm/embedder.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "ltm/http_client.h"
#include "ltm/text.h"

namespace mnemo::ltm {
namespace {

// Feature weights: words count fully, character n-grams half (they match inflections and typos
// that stemming misses, but are many per word).
constexpr float kWordWeight = 1.0f;
constexpr float kCharGramWeight = 0.5f;

uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

}  // namespace

float dot(const float* a, const float* b, size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
    s4 += a[i + 4] * b[i + 4];
    s5 += a[i + 5] * b[i + 5];
    s6 += a[i + 6] * b[i + 6];
    s7 += a[i + 7] * b[i + 7];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

void normalize(Vector& v) {
  double ss = 0;
  for (float x : v) ss += static_cast<double>(x) * x;
  if (ss <= 0) return;
  float inv = static_cast<float>(1.0 / std::sqrt(ss));
  for (float& x : v) x *= inv;
}

HashEmbedder::HashEmbedder(int dim) : dim_(dim), df_(size_t{1} << kDfBits) {}

std::string HashEmbedder::name() const { return str_printf("hash-v1-%d", dim_); }

std::vector<HashEmbedder::Feature> HashEmbedder::features(std::string_view text) {
  std::unordered_map<uint64_t, float> acc;
  for (const std::string& tok : tokenize(text)) {
    std::string stem = porter_stem(tok);
    acc[fnv1a64(stem, 0x9e3779b97f4a7c15ull)] += kWordWeight;
    std::string w = "<" + tok + ">";
    for (int n = 3; n <= 4; ++n) {
      for (size_t i = 0; i + n <= w.size(); ++i) {
        acc[fnv1a64(std::string_view(w).substr(i, n), 0x3c6ef372fe94f82bull + n)] += kCharGramWeight;
      }
    }
  }
  std::vector<Feature> out;
  out.reserve(acc.size());
  for (const auto& [h, tf] : acc) out.push_back({h, tf});
  std::sort(out.begin(), out.end(), [](const Feature& a, const Feature& b) { return a.hash < b.hash; });
  return out;
}

double HashEmbedder::idf(uint64_t hash) const {
  double n = static_cast<double>(n_docs_.load(std::memory_order_relaxed));
  double df = df_[mix64(hash) & ((size_t{1} << kDfBits) - 1)].load(std::memory_order_relaxed);
  return std::log((n + 1.0) / (df + 0.5));
}

void HashEmbedder::observe(std::string_view text, int delta) {
  for (const Feature& f : features(text)) {
    auto& c = df_[mix64(f.hash) & ((size_t{1} << kDfBits) - 1)];
    if (delta > 0) c.fetch_add(1, std::memory_order_relaxed);
    else if (c.load(std::memory_order_relaxed) > 0) c.fetch_sub(1, std::memory_order_relaxed);
  }
  if (delta > 0) n_docs_.fetch_add(1, std::memory_order_relaxed);
  else if (n_docs_.load(std::memory_order_relaxed) > 0) n_docs_.fetch_sub(1, std::memory_order_relaxed);
}

Vector HashEmbedder::embed_one(std::string_view text) const {
  Vector v(dim_, 0.0f);
  for (const Feature& f : features(text)) {
    float tf = f.tf >= 1.0f ? 1.0f + std::log(f.tf) : f.tf;
    float w = tf * static_cast<float>(std::max(0.0, idf(f.hash)));
    uint64_t m = mix64(f.hash ^ 0x5851f42d4c957f2dull);
    size_t bucket = static_cast<size_t>(m % static_cast<uint64_t>(dim_));
    v[bucket] += (m >> 63) ? w : -w;
  }
  normalize(v);
  return v;
}

Expected<std::vector<Vector>> HashEmbedder::embed(const std::vector<std::string>& texts) {
  std::vector<Vector> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.push_back(embed_one(t));
  return out;
}

namespace {

// OpenAI-compatible /v1/embeddings.
class HttpEmbedder final : public Embedder {
 public:
  explicit HttpEmbedder(const EmbedderConfig& c) : config_(c), url_(join_url(c.url, "/v1/embeddings")) {}
  int dim() const override { return dim_; }
  std::string name() const override { return "http:" + config_.model + ":" + std::to_string(dim_); }

  Expected<std::vector<Vector>> embed(const std::vector<std::string>& texts) override {
    nlohmann::json req = {{"model", config_.model}, {"input", texts}};
    MNEMO_ASSIGN_OR_RETURN(std::string body, post_json(url_, req.dump(), config_.api_key, config_.timeout_ms));
    nlohmann::json res = nlohmann::json::parse(body, nullptr, false);
    if (res.is_discarded() || !res.is_object() || !res.contains("data") || !res["data"].is_array())
      return corrupt(url_ + ": expected a JSON object with a \"data\" array, got " + quote_bytes(body, 120));
    const auto& data = res["data"];
    if (data.size() != texts.size())
      return corrupt(str_printf("%s: expected %zu embeddings, got %zu", url_.c_str(), texts.size(), data.size()));
    std::vector<Vector> out(texts.size());
    for (size_t i = 0; i < data.size(); ++i) {
      const auto& item = data[i];
      if (!item.is_object() || !item.contains("embedding") || !item["embedding"].is_array())
        return corrupt(str_printf("%s: data[%zu]: expected an \"embedding\" array", url_.c_str(), i));
      size_t index = i;
      if (item.contains("index") && item["index"].is_number_unsigned()) index = item["index"].get<size_t>();
      if (index >= out.size()) return corrupt(str_printf("%s: data[%zu]: index %zu out of range", url_.c_str(), i, index));
      Vector v;
      v.reserve(item["embedding"].size());
      for (const auto& x : item["embedding"]) {
        if (!x.is_number()) return corrupt(str_printf("%s: data[%zu]: expected numbers", url_.c_str(), i));
        v.push_back(x.get<float>());
      }
      if (dim_ != 0 && static_cast<int>(v.size()) != dim_)
        return corrupt(str_printf("%s: expected embeddings of dimension %d, got %zu", url_.c_str(), dim_, v.size()));
      normalize(v);
      out[index] = std::move(v);
    }
    return out;
  }

  Status probe() {
    int want = config_.dim;
    dim_ = 0;
    auto r = embed({"dimension probe"});
    if (!r) return r.status();
    int got = static_cast<int>((*r)[0].size());
    if (got == 0) return corrupt(url_ + ": the endpoint returned an empty embedding");
    if (want > 0 && got != want)
      return invalid_argument(str_printf("--embed-dim: expected the endpoint's dimension %d, got %d", got, want));
    dim_ = got;
    return Status::ok();
  }

 private:
  EmbedderConfig config_;
  std::string url_;
  int dim_ = 0;
};

}  // namespace

Expected<std::unique_ptr<Embedder>> make_embedder(const EmbedderConfig& config) {
  if (config.kind == "hash") {
    if (config.dim < 16 || config.dim > 65536)
      return invalid_argument(str_printf("embedder dim: expected 16..65536, got %d", config.dim));
    return std::unique_ptr<Embedder>(new HashEmbedder(config.dim));
  }
  if (config.kind == "http") {
    if (config.url.empty()) return invalid_argument("--embed-url: required for the http embedder");
    auto e = std::make_unique<HttpEmbedder>(config);
    MNEMO_RETURN_IF_ERROR(e->probe());
    return std::unique_ptr<Embedder>(std::move(e));
  }
  if (config.kind == "model") {
    return unsupported("embedder 'model': pooled hidden states need the inference core (mnemo::Model forward "
                       "pass), which is not available yet; use 'hash' or 'http'");
  }
  return invalid_argument("--embedder: expected hash, http or model, got " + quote_bytes(config.kind));
}

}  // namespace mnemo::ltm
