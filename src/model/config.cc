#include "model/config.h"

#include <cmath>

#include "base/strings.h"

namespace mnemo {

Status check_rope_freq_base(const std::string& subject, double base) {
  if (std::isfinite(base) && base > 1.0) return Status::ok();
  return out_of_range(str_printf("%s: expected a finite RoPE frequency base > 1, found %g", subject.c_str(), base));
}

Status check_rope_scaling_factor(const std::string& subject, double factor) {
  // Both the factor and the f32 frequency scale 1/factor stay normal, finite f32 values.
  if (factor >= 1e-30 && factor <= 1e30) return Status::ok();
  return out_of_range(
      str_printf("%s: expected a linear RoPE scaling factor between 1e-30 and 1e30, found %g", subject.c_str(), factor));
}

}  // namespace mnemo
