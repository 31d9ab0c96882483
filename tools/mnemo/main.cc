// mnemo: one binary, one subcommand per job (mnemo run, mnemo info, ...). See `mnemo --help`.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "command.h"

namespace mnemo::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

Status usage_error(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

const char* unknown_command(int argc, char** argv, const std::vector<CommandSpec>& registry) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.empty() || arg[0] == '-') continue;
    for (const auto& spec : registry) {
      if (arg == spec.name) return nullptr;
    }
    return argv[i];
  }
  return nullptr;
}

// llama.cpp's multi-letter short options, which CLI11 does not parse (it would read -ctk as -c tk):
// -ctk and -ctv become --cache-type-k and --cache-type-v (also in the -ctk=VALUE form).
std::vector<std::string> llama_cpp_aliases(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (std::string& a : args) {
    for (const auto& [alias, name] :
         {std::pair{"-ctk", "--cache-type-k"}, std::pair{"-ctv", "--cache-type-v"}}) {
      if (a == alias || a.rfind(std::string(alias) + "=", 0) == 0)
        a = name + a.substr(std::string(alias).size());
    }
  }
  return args;
}

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

  // The command is the first argument that is not an option (mnemo itself takes only --help and
  // --version). An unknown one is a usage error whatever follows it: CLI11 alone would let a later
  // --help print the main help and exit 0, as if `mnemo nosuch --help` were valid.
  if (const char* unknown = cli::unknown_command(argc, argv, registry)) {
    std::string names;
    for (const auto& spec : registry) names += std::string(names.empty() ? "" : ", ") + spec.name;
    std::fprintf(stderr, "mnemo: error: %s: expected a command (%s), found an unknown one\n", unknown, names.c_str());
    std::fprintf(stderr, "Run 'mnemo --help' for usage.\n");
    return 2;
  }

  std::vector<std::string> args = cli::llama_cpp_aliases(argc, argv);
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  try {
    app.parse(argc, arg_ptrs.data());
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
