#include "plan/budget.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "base/check.h"
#include "base/strings.h"

namespace mnemo {

Lease::Lease(Lease&& o) noexcept
    : budget_(std::move(o.budget_)), id_(std::exchange(o.id_, 0)), bytes_(std::exchange(o.bytes_, 0)) {}

Lease& Lease::operator=(Lease&& o) noexcept {
  Lease t(std::move(o));
  std::swap(budget_, t.budget_);
  std::swap(id_, t.id_);
  std::swap(bytes_, t.bytes_);
  return *this;
}

Lease::~Lease() {
  if (budget_) budget_->release(id_);
}

Status Lease::resize(uint64_t bytes) {
  MNEMO_CHECK(budget_ != nullptr);
  MNEMO_RETURN_IF_ERROR(budget_->resize(id_, bytes));
  bytes_ = bytes;
  return Status::ok();
}

std::shared_ptr<Budget> Budget::create(uint64_t limit_bytes) { return std::shared_ptr<Budget>(new Budget(limit_bytes)); }

std::string Budget::refusal(std::string_view part, uint64_t need) const {
  const uint64_t left = limit_ > used_ ? limit_ - used_ : 0;
  std::string held;
  for (const auto& [id, l] : leases_) held += (held.empty() ? "" : ", ") + l.part + " " + format_bytes(l.bytes);
  return str_printf("memory budget %s: %.*s needs %s but %s is left (%s missing; in use: %s)",
                    format_bytes(limit_).c_str(), static_cast<int>(part.size()), part.data(),
                    format_bytes(need).c_str(), format_bytes(left).c_str(), format_bytes(need - left).c_str(),
                    held.empty() ? "nothing" : held.c_str());
}

Expected<Lease> Budget::acquire(std::string_view part, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (limit_ > 0 && (used_ > limit_ || bytes > limit_ - used_)) return resource_exhausted(refusal(part, bytes));
  const uint64_t id = next_id_++;
  leases_[id] = LeaseInfo{std::string(part), bytes};
  used_ += bytes;
  peak_ = std::max(peak_, used_);
  return Lease(shared_from_this(), id, bytes);
}

Status Budget::resize(uint64_t id, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  LeaseInfo& l = leases_.at(id);
  if (bytes > l.bytes) {
    const uint64_t more = bytes - l.bytes;
    if (limit_ > 0 && (used_ > limit_ || more > limit_ - used_)) return resource_exhausted(refusal(l.part, more));
    used_ += more;
  } else {
    used_ -= l.bytes - bytes;
  }
  l.bytes = bytes;
  peak_ = std::max(peak_, used_);
  return Status::ok();
}

void Budget::release(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = leases_.find(id);
  MNEMO_CHECK(it != leases_.end());
  used_ -= it->second.bytes;
  leases_.erase(it);
}

uint64_t Budget::used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

uint64_t Budget::peak() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

uint64_t Budget::available() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (limit_ == 0) return std::numeric_limits<uint64_t>::max();
  return limit_ > used_ ? limit_ - used_ : 0;
}

std::vector<LeaseInfo> Budget::leases() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LeaseInfo> out;
  for (const auto& [id, l] : leases_) out.push_back(l);
  return out;
}

std::string Budget::describe() const {
  std::vector<LeaseInfo> by_part;
  for (const LeaseInfo& l : leases()) {
    auto it = std::find_if(by_part.begin(), by_part.end(), [&](const LeaseInfo& p) { return p.part == l.part; });
    if (it == by_part.end()) {
      by_part.push_back(l);
    } else {
      it->bytes += l.bytes;
    }
  }
  std::string out;
  for (const LeaseInfo& l : by_part) out += (out.empty() ? "" : ", ") + l.part + " " + format_bytes(l.bytes);
  return out.empty() ? "nothing leased" : out;
}

Expected<uint64_t> parse_memory_size(std::string_view text, uint64_t physical_bytes) {
  const std::string s(text);
  auto bad = [&] {
    return out_of_range("memory size '" + s + "': expected a number of bytes with an optional unit (K, M, G, T; " +
                            "e.g. 600M, 2G, 1.5GiB) or a percentage of physical memory (e.g. 80%)");
  };
  const char* begin = s.c_str();
  char* end = nullptr;
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.')) return bad();
  const double value = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(value) || value < 0) return bad();
  std::string unit(end);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double bytes = 0;
  if (unit == "%") {
    if (value <= 0 || value > 100) return out_of_range("memory size '" + s + "': a percentage must be in (0, 100]");
    bytes = value / 100.0 * static_cast<double>(physical_bytes);
  } else {
    static const std::pair<const char*, double> kUnits[] = {
        {"", 1.0},          {"B", 1.0},
        {"K", 0x1p10},      {"KB", 0x1p10}, {"KIB", 0x1p10}, {"M", 0x1p20}, {"MB", 0x1p20}, {"MIB", 0x1p20},
        {"G", 0x1p30},      {"GB", 0x1p30}, {"GIB", 0x1p30}, {"T", 0x1p40}, {"TB", 0x1p40}, {"TIB", 0x1p40}};
    bool found = false;
    for (const auto& [name, scale] : kUnits) {
      if (unit == name) {
        bytes = value * scale;
        found = true;
      }
    }
    if (!found) return bad();
  }
  if (bytes < 1.0) return out_of_range("memory size '" + s + "': expected more than 0 bytes");
  if (bytes > 0x1p62) return out_of_range("memory size '" + s + "': too large");
  return static_cast<uint64_t>(bytes);
}

}  // namespace mnemo
