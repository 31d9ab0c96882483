// runtime/engine.cc: Engine = a Budget, a ThreadPool, and the runtime's own lease.
#include "mnemo/engine.h"

#include "base/strings.h"
#include "base/sys.h"
#include "runtime/engine_impl.h"

namespace mnemo {

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Expected<uint64_t> parse_memory_budget(const std::string& text) {
  const SystemMemory sys = system_memory();
  MNEMO_ASSIGN_OR_RETURN(uint64_t bytes, parse_memory_size(text, sys.physical_bytes()));
  if (sys.physical_bytes() > 0 && bytes > sys.physical_bytes()) {
    return out_of_range(str_printf("memory budget %s: above the %s of %s", format_bytes(bytes).c_str(),
                                   sys.cgroup_limit_bytes > 0 && sys.cgroup_limit_bytes < sys.total_bytes
                                       ? "memory cgroup's limit"
                                       : "physical memory",
                                   format_bytes(sys.physical_bytes()).c_str()));
  }
  return bytes;
}

Expected<std::shared_ptr<Engine>> Engine::create(const EngineParams& params) {
  const SystemMemory sys = system_memory();
  uint64_t budget = params.budget_bytes;
  if (budget == 0) budget = sys.usable_bytes();
  if (params.budget_bytes > 0 && sys.physical_bytes() > 0 && params.budget_bytes > sys.physical_bytes()) {
    return out_of_range(str_printf("memory budget %s: above the machine's %s", format_bytes(budget).c_str(),
                                   format_bytes(sys.physical_bytes()).c_str()));
  }
  // Capped at the online CPUs with one warning (ThreadPool::resolve_threads), unless asked not to.
  const int n_threads = params.cap_threads_at_cpus || params.n_threads <= 0 ? ThreadPool::resolve_threads(params.n_threads)
                                                                            : params.n_threads;
  auto impl = std::make_unique<Impl>();
  impl->budget = Budget::create(budget);
  // The runtime's own footprint (binary, libraries, heap so far) counts against the budget.
  // Rounded up to whole MiB: the measure moves by a few pages from run to run.
  const uint64_t rss = (process_memory().rss_bytes + (1 << 20) - 1) >> 20 << 20;
  MNEMO_ASSIGN_OR_RETURN(impl->runtime, impl->budget->acquire("runtime", rss));
  impl->pool = std::make_unique<ThreadPool>(n_threads, ThreadPool::kExact);  // capped above, as asked
  return std::shared_ptr<Engine>(new Engine(std::move(impl)));
}

struct MemoryReservation::Impl {
  Lease lease;
};
MemoryReservation::MemoryReservation(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MemoryReservation::~MemoryReservation() = default;
uint64_t MemoryReservation::bytes() const { return impl_->lease.bytes(); }
Status MemoryReservation::resize(uint64_t bytes) { return impl_->lease.resize(bytes); }

Expected<std::unique_ptr<MemoryReservation>> Engine::reserve(const std::string& part, uint64_t bytes) {
  auto impl = std::make_unique<MemoryReservation::Impl>();
  MNEMO_ASSIGN_OR_RETURN(impl->lease, impl_->budget->acquire(part, bytes));
  return std::make_unique<MemoryReservation>(std::move(impl));
}

uint64_t Engine::budget_bytes() const { return impl_->budget->limit(); }
uint64_t Engine::used_bytes() const { return impl_->budget->used(); }
uint64_t Engine::available_bytes() const { return impl_->budget->available(); }
uint64_t Engine::peak_bytes() const { return impl_->budget->peak(); }
int Engine::n_threads() const { return impl_->pool->size(); }

std::vector<EngineLease> Engine::leases() const {
  std::vector<EngineLease> out;
  for (const LeaseInfo& l : impl_->budget->leases()) out.push_back({l.part, l.bytes});
  return out;
}

std::string Engine::describe() const {
  return "budget " + format_bytes(budget_bytes()) + ": " + impl_->budget->describe() + " (" +
         format_bytes(used_bytes()) + " used)";
}

}  // namespace mnemo
