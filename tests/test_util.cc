#include "test_util.h"

#include <unistd.h>

#include <cstdlib>

namespace mnemo::test {

std::string temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && base[0] ? base : "/tmp") + "/mnemo-test-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  return tmpl;
}

}  // namespace mnemo::test
