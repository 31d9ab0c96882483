// plan/budget.h: a byte budget and the leases taken from it.
//
// Everything that holds memory for long (the runtime itself, weights, KV caches, activation
// blocks, and later weight caches and long-term-memory caches) takes a Lease naming the part it
// is for. A lease that does not fit is refused with a message that names the part, what it needs,
// what is left and who holds the rest, so the user knows what to shrink. Leases return their bytes
// when destroyed. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/status.h"

namespace mnemo {

struct LeaseInfo {
  std::string part;  // "weights", "KV cache", "activations", ...
  uint64_t bytes = 0;
};

class Budget;

class Lease {
 public:
  Lease() = default;
  Lease(Lease&& o) noexcept;
  Lease& operator=(Lease&& o) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  uint64_t bytes() const { return bytes_; }
  bool held() const { return budget_ != nullptr; }
  // Grows or shrinks the lease; growing is refused (and the lease kept as it was) when the budget
  // has not the difference left.
  Status resize(uint64_t bytes);

 private:
  friend class Budget;
  Lease(std::shared_ptr<Budget> budget, uint64_t id, uint64_t bytes) : budget_(std::move(budget)), id_(id), bytes_(bytes) {}
  std::shared_ptr<Budget> budget_;
  uint64_t id_ = 0;
  uint64_t bytes_ = 0;
};

class Budget : public std::enable_shared_from_this<Budget> {
 public:
  // limit_bytes: the budget (0: no limit, every lease is granted and still counted).
  static std::shared_ptr<Budget> create(uint64_t limit_bytes);

  // A lease of `bytes` for `part`, or resource_exhausted naming the part and the shortfall.
  Expected<Lease> acquire(std::string_view part, uint64_t bytes);

  uint64_t limit() const { return limit_; }
  uint64_t used() const;
  uint64_t available() const;  // limit - used (saturating); UINT64_MAX without a limit
  uint64_t peak() const;       // the most ever leased at once
  std::vector<LeaseInfo> leases() const;  // held now, in the order they were taken
  // "runtime 18.2 MiB, weights 607.6 MiB, KV cache 44.0 MiB" (leases of one part summed).
  std::string describe() const;

 private:
  friend class Lease;
  explicit Budget(uint64_t limit) : limit_(limit) {}
  Status resize(uint64_t id, uint64_t bytes);
  void release(uint64_t id);
  std::string refusal(std::string_view part, uint64_t need) const;  // mu_ held

  const uint64_t limit_;
  mutable std::mutex mu_;
  std::map<uint64_t, LeaseInfo> leases_;
  uint64_t next_id_ = 1, used_ = 0, peak_ = 0;
};

// Parses a memory size: "600M", "2G", "1.5GiB", "512k", "123456" (bytes), "80%" (of
// `physical_bytes`). K/M/G/T are binary (KiB, MiB, ...). Errors (out_of_range: the CLI exits 1 on
// a bad budget, as on a budget that cannot be met) name the text and the accepted forms.
Expected<uint64_t> parse_memory_size(std::string_view text, uint64_t physical_bytes);

}  // namespace mnemo
