// mnemo/hw_profile.h: what a device can deliver, as the roofline cost model (mnemo/roofline.h) needs
// it: memory bandwidth and achievable compute per kind of kernel.
//
// A HardwareProfile is measured on this machine by `mnemo hw` (measure_hardware_profile: DRAM read
// bandwidth and the throughput of mnemo's own kernels per weight type, batch and thread count), read
// from a JSON file it saved, or taken from a built-in table of published figures for other devices
// (a datacenter GPU, a PIM-GPT-style near-memory device). Roofs are "achievable", not theoretical:
// for this machine they are what mnemo's kernels reach, so the cost model predicts mnemo's speed.
//
// Memory roofs: the bandwidth of a plain read (kernels::read_bytes, many independent streams: the
// most this memory delivers) applies to activations, the KV cache and element-wise work; a weight
// type may have its own, lower, roof: the rate at which mnemo's matrix-vector kernel of that type
// streams weights far larger than the caches (measured: 55-70% of the plain read on this machine's
// 2 cores), the memory roof of its matrix products.
//
// Compute kinds:
//   a weight type name ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", ...): matrix products with
//       weights of that type, at `batch` tokens per product (1: decode GEMV; 512: prefill GEMM)
//   "attention": the qk^T, softmax and sv of causal attention, at `batch` query tokens
//   "vector":    element-wise work (RMSNorm, RoPE, SwiGLU, residual adds)
//   "*":         any kind the profile does not list (device-wide peaks)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/hw.h"
#include "mnemo/status.h"

namespace mnemo {

struct BandwidthFigure {
  int threads = 0;    // CPU threads that reach it; 0: the device as a whole (any thread count)
  double gb_s = 0;    // 1e9 bytes per second read from memory
  std::string kind;   // "": any access; a weight type: its matrix products' streaming rate
};

struct ComputeFigure {
  std::string kind;   // see above
  int64_t batch = 1;  // tokens per product (query tokens for "attention")
  int threads = 0;    // 0: the device as a whole
  double gflop_s = 0; // 1e9 floating-point (or integer multiply-add counted as 2) operations per second
};

struct HardwareProfile {
  std::string name;
  std::string source;  // where the figures come from: "measured by mnemo hw", a datasheet, a paper
  std::string notes;
  std::vector<BandwidthFigure> bandwidth;
  std::vector<ComputeFigure> compute;

  // Bandwidth at `threads` (>= 1) for `kind` (its own figures when the profile has some, else the
  // general ones): the figure of that thread count, linearly interpolated between measured counts,
  // the highest measured count's figure above it, the lowest below it; device-wide figures
  // (threads 0) apply to any count. Errors: no general bandwidth figure.
  Expected<double> bandwidth_gb_s(int threads, const std::string& kind = "") const;
  // Compute of `kind` at `batch` tokens and `threads`: among the figures of that kind (else "*"),
  // thread counts resolved as for bandwidth, then interpolated linearly in log(batch) between
  // measured batches and clamped outside them. Errors: neither the kind nor "*" is listed.
  Expected<double> compute_gflop_s(const std::string& kind, int64_t batch, int threads) const;
};

// Published devices, for comparison with this machine: "a100-80gb" (NVIDIA A100 SXM 80 GB), "pim-gpt"
// (PIM-GPT's GDDR6 near-bank MAC units), "i9-13900k" (LLM-Viewer's CPU entry). Each profile's
// `source` and `notes` say where every figure comes from and which are recalled, not read.
const std::vector<HardwareProfile>& builtin_hardware_profiles();

// The profile as JSON (format "mnemo-hardware-profile", version 1), and back. `subject` names the
// input in errors ("<subject>: compute[3].gflop_s: expected a positive number, found -1").
std::string hardware_profile_to_json(const HardwareProfile& profile);
Expected<HardwareProfile> hardware_profile_from_json(const std::string& text, const std::string& subject);

// Reads a saved profile; writes one atomically (temporary, fsync, rename).
Expected<HardwareProfile> load_hardware_profile(const std::string& path);
Status save_hardware_profile(const HardwareProfile& profile, const std::string& path);

// A built-in profile by name, or else a profile file by path (the --hw argument). Errors: neither
// a built-in name nor a readable, valid profile file (the message lists the built-in names).
Expected<HardwareProfile> resolve_hardware_profile(const std::string& name_or_path);

// What measure_hardware_profile times, beyond the bandwidth (BandwidthOptions in mnemo/hw.h).
struct ComputeOptions {
  std::vector<std::string> types = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k"};
  std::vector<int64_t> batches = {1, 8, 32, 512};  // tokens per product
  std::vector<int> threads;       // empty: 1 .. online CPUs
  int64_t n = 2048;               // row length of the weights (and head count x head dim of attention)
  int repetitions = 3;            // timed passes per figure after one warm-up; the best is kept
  bool attention = true;          // also time attention (kind "attention") and RMSNorm ("vector")
  uint64_t stream_bytes = 256ull << 20;  // weights of the streaming (memory roof) measurement
};

// Times mnemo's compute roofs on this machine. Matrix products go through kernels::matmul_rows, the entry
// the forward pass uses: below 16 tokens on a matrix that stays in this core's L2 cache (about 512
// KiB of weights per thread, each thread multiplying its own rows again and again), so that the
// figure is the kernel's compute roof and not DRAM's; from 16 tokens through kernels::matmul on a
// 2048 x n matrix (compute-bound: each weight is used by every token). Attention is timed on
// TinyLlama's head shape (32 query heads, 4 KV heads of 64) at 512 positions, for one query token
// and for a causal prefill of 512. Errors: an unknown or unsupported type, non-positive sizes.
Expected<std::vector<ComputeFigure>> measure_compute(const ComputeOptions& options);

// A profile named `name` of measured figures (the best pass of each bandwidth point), its source and
// notes saying how they were measured.
HardwareProfile measured_hardware_profile(const std::string& name, const std::vector<BandwidthPoint>& bandwidth,
                                          const BandwidthOptions& bandwidth_options, std::vector<ComputeFigure> compute,
                                          std::vector<BandwidthFigure> streaming, const ComputeOptions& compute_options);

// The memory roof of each weight type: kernels::matmul of one token (the decode GEMV) over
// options.stream_bytes of weights (rows of options.n), far beyond the caches, per thread count;
// bytes of weights per second, as bandwidth figures of that kind.
Expected<std::vector<BandwidthFigure>> measure_streaming(const ComputeOptions& options);

// measure_read_bandwidth + measure_compute + measure_streaming, as a profile named `name`.
Expected<HardwareProfile> measure_hardware_profile(const std::string& name, const BandwidthOptions& bandwidth,
                                                   const ComputeOptions& compute);

}  // namespace mnemo
