// mnemo/hw.h: what this machine's memory can deliver, and the decode speed limit that implies.
//
// Decoding one token reads every weight once (matrix-vector products), so on a CPU it is bound by
// memory bandwidth: tokens/s <= DRAM read bandwidth / bytes read per token. measure_read_bandwidth
// measures the bandwidth with a kernel built to reach it (wide loads, eight independent
// accumulators per thread, a buffer many times the last-level cache, the best of several passes);
// decode_roofline turns it into the maximum tokens/s of a model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/model.h"
#include "mnemo/status.h"

namespace mnemo {

struct BandwidthOptions {
  std::vector<int> threads;           // thread counts to measure; empty: 1 .. online CPUs
  uint64_t buffer_bytes = 1ull << 30; // read buffer (rounded down to 4 KiB); far above the caches
  int repetitions = 5;                // passes per thread count; the best and the median are kept
};

struct BandwidthPoint {
  int threads = 0;
  double best_gb_s = 0;    // 1e9 bytes per second, fastest pass
  double median_gb_s = 0;
};

// Reads the buffer with 1, 2, ... threads. Errors: the buffer cannot be allocated.
Expected<std::vector<BandwidthPoint>> measure_read_bandwidth(const BandwidthOptions& options = {});

// Bytes mnemo reads to decode one token, and the speed limit they imply.
struct DecodeRoofline {
  uint64_t weight_bytes = 0;     // every weight byte except the token embedding, plus one row of it
                                 // (all of it when the output head is tied to the embedding)
  uint64_t kv_bytes = 0;         // K and V rows read by attention, averaged over the tokens
  uint64_t bytes_per_token = 0;  // weight_bytes + kv_bytes
  double bandwidth_gb_s = 0;
  double max_tokens_per_s = 0;    // bandwidth / bytes_per_token
};

// The roofline of decoding n_gen tokens after n_prompt cached positions (tg128: 0, 128), at the
// given bandwidth (GB/s). kv_bytes_per_value: bytes per cached K or V value (4 for an F32 cache, 2
// for F16; kv_cache_types() in context.h gives it for a model's cache).
DecodeRoofline decode_roofline(const ModelInfo& info, double bandwidth_gb_s, int64_t n_prompt = 0,
                               int64_t n_gen = 128, double kv_bytes_per_value = 4);

}  // namespace mnemo
