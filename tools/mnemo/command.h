// tools/mnemo/command.h: how a subcommand plugs into the `mnemo` binary.
//
// Each cmd_<name>.cc declares its options once on the CLI11 subcommand it is given (help text
// with defaults is generated from them) and returns a callback that does the work. Commands use
// only the public API in include/mnemo/. Exit codes: 0 ok, 1 error, 2 usage.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::cli {

using RunFn = std::function<Status()>;
// Declares options on `sub` and returns what runs when `sub` is chosen.
using SetupFn = RunFn (*)(CLI::App& sub);

struct CommandSpec {
  const char* name;
  const char* description;
  SetupFn setup;
};

std::vector<CommandSpec>& command_registry();

struct CommandRegistrar {
  CommandRegistrar(const char* name, const char* description, SetupFn setup) {
    command_registry().push_back({name, description, setup});
  }
};

// Usage errors found after parsing (conflicting flags, a .bin model without -z): exit code 2.
Status usage_error(std::string message);

// The command word of argv (its first argument that is not an option) when it names no command
// of `registry`; null when it names one or there is none.
const char* unknown_command(int argc, char** argv, const std::vector<CommandSpec>& registry);

}  // namespace mnemo::cli

#define MNEMO_COMMAND(name, description, setup) \
  static ::mnemo::cli::CommandRegistrar mnemo_command_registrar_##setup(name, description, setup)
