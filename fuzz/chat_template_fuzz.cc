// libFuzzer target: the Jinja interpreter of chat templates (src/chat/jinja*), on hostile
// templates.
//
// The input up to its first NUL byte is a template; what follows, if anything, is the content of
// a user message. The template is parsed; when it parses, it is rendered twice (with and without
// add_generation_prompt) over a fixed conversation with tight limits. Either may fail, but only
// with a Status whose message names the template ("fuzz:"); any crash, hang, sanitizer report or
// other message is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "chat/jinja.h"
#include "fuzz_check.h"

namespace {

using mnemo::jinja::Value;

Value message(const char* role, std::string content) {
  Value m = Value::dict();
  m.set("role", role);
  m.set("content", Value(std::move(content)));
  return m;
}

volatile size_t g_sink = 0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view source = input.substr(0, nul);
  const std::string user = nul == std::string_view::npos ? "Hello" : std::string(input.substr(nul + 1));

  auto t = mnemo::jinja::Template::parse(source, "fuzz");
  if (!t.has_value()) {
    FUZZ_CHECK(t.status().message().rfind("fuzz:", 0) == 0);
    return 0;
  }
  mnemo::jinja::Limits limits;
  limits.max_output_bytes = 1 << 16;
  limits.max_items = 1 << 12;
  limits.max_steps = 200000;
  limits.max_call_depth = 16;
  for (bool gen : {true, false}) {
    Value g = Value::dict();
    g.set("messages", Value::list({message("system", "Be brief."), message("user", user),
                                   message("assistant", " Hi <b> \"there\" "), message("user", "Bye")}));
    g.set("add_generation_prompt", gen);
    g.set("bos_token", "<s>");
    g.set("eos_token", "</s>");
    auto out = t->render(g, limits);
    if (out.has_value()) {
      FUZZ_CHECK(out->size() <= limits.max_output_bytes);
      g_sink = g_sink + out->size();
    } else {
      FUZZ_CHECK(out.status().message().rfind("fuzz:", 0) == 0);
    }
  }
  return 0;
}
