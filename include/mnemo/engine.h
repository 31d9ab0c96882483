// mnemo/engine.h: the one owner of a process's inference memory and threads.
//
// An Engine holds a byte budget and a thread pool. Everything that holds memory asks it for a
// lease: the runtime itself (the process as it stood when the engine was created), each model's
// weights (what will be resident: the whole file with --no-mmap or --mlock, the tensors when
// mapped) and its metadata (vocabulary, converted tensors, as measured), and each context's KV
// cache and activation block. A lease that does not fit is refused before anything is allocated,
// with a message that names the part, what it needs, what is left and what holds the rest. Models
// loaded with the same engine and their contexts share its pool (one forward pass at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/status.h"

namespace mnemo {

struct EngineParams {
  uint64_t budget_bytes = 0;  // 0: what the machine can give (MemAvailable, or the cgroup limit if lower)
  int n_threads = 0;          // 0: online CPUs; more than online CPUs is capped with a warning
  bool cap_threads_at_cpus = true;  // false: keep n_threads as asked (tests of odd thread splits)
};

struct EngineLease {
  std::string part;  // "runtime", "weights", "model metadata", "KV cache", "activations"
  uint64_t bytes = 0;
};

// Bytes a caller holds against an engine's budget (e.g. a text and its tokens); returned when
// destroyed.
class MemoryReservation {
 public:
  ~MemoryReservation();
  uint64_t bytes() const;
  Status resize(uint64_t bytes);  // growing may be refused
  struct Impl;
  explicit MemoryReservation(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

class Engine {
 public:
  // Errors: a budget above physical memory (or the cgroup limit), or below what the runtime
  // already holds.
  static Expected<std::shared_ptr<Engine>> create(const EngineParams& params = {});
  ~Engine();

  uint64_t budget_bytes() const;
  uint64_t used_bytes() const;
  uint64_t available_bytes() const;
  uint64_t peak_bytes() const;  // the most leased at once
  int n_threads() const;
  std::vector<EngineLease> leases() const;
  // "budget 1.00 GiB: runtime 18.2 MiB, weights 607.6 MiB, ... (643.2 MiB used)"
  std::string describe() const;
  // Leases `bytes` for `part` ("text and tokens"); refused when they do not fit what is left.
  Expected<std::unique_ptr<MemoryReservation>> reserve(const std::string& part, uint64_t bytes);

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses a --mem value against this machine: "600M", "2G", "1.5GiB", "80%" (of physical memory).
// Errors: malformed, zero, or above physical memory (or the cgroup limit).
Expected<uint64_t> parse_memory_budget(const std::string& text);

}  // namespace mnemo
