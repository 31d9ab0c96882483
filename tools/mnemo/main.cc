// mnemo: one binary, one subcommand per job (mnemo run, mnemo info, ...). See `mnemo --help`.
#include <algorithm>
#include <cstdio>
#include <map>

#include "command.h"

namespace mnemo::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

Status usage_error(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

}  // namespace mnemo::cli

int main(int argc, char** argv) {
  using namespace mnemo;
  CLI::App app{"mnemo: a memory-first engine for large language models", "mnemo"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mnemo 0.1.0");
  app.failure_message(CLI::FailureMessage::help);

  auto& registry = cli::command_registry();
  std::sort(registry.begin(), registry.end(),
            [](const cli::CommandSpec& a, const cli::CommandSpec& b) { return std::string(a.name) < b.name; });
  std::map<CLI::App*, cli::RunFn> runs;
  for (const auto& spec : registry) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.description);
    runs[sub] = spec.setup(*sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "mnemo: error: %s\n", e.what());
    std::fprintf(stderr, "Run 'mnemo %s--help' for usage.\n",
                 app.get_subcommands().empty() ? "" : (app.get_subcommands()[0]->get_name() + " ").c_str());
    return 2;
  }

  for (CLI::App* sub : app.get_subcommands()) {
    Status s;
    try {
      s = runs[sub]();
    } catch (const std::exception& e) {
      s = internal_error(std::string("unexpected exception: ") + e.what());
    }
    if (!s.is_ok()) {
      std::fflush(stdout);
      std::fprintf(stderr, "mnemo: error: %s\n", s.message().c_str());
      return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
    }
  }
  return 0;
}
