// runtime/engine_impl.h: what an Engine holds (internal to the runtime layer).
#pragma once

#include <memory>
#include <mutex>

#include "base/thread_pool.h"
#include "mnemo/engine.h"
#include "plan/budget.h"

namespace mnemo {

struct Engine::Impl {
  std::shared_ptr<Budget> budget;
  std::unique_ptr<ThreadPool> pool;
  std::mutex run_mu;  // one forward pass on the pool at a time (ThreadPool runs one job at a time)
  Lease runtime;      // the process as it stood at creation
};

}  // namespace mnemo
