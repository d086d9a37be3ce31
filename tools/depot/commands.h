// The `depot` tool's commands. Each cmd_*.cc adds one CLI11 subcommand and returns the function
// that runs it once the command line has been parsed; main.cc dispatches.
//
// Exit codes, for every command: 0 success, 1 the operation failed ("depot: <command>: <status>",
// naming the location), 2 a usage error (bad option, location, range or size).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "depot/core/status.h"

namespace depot::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command AddCpCommand(CLI::App& parent);
Command AddSyncCommand(CLI::App& parent);
Command AddCatCommand(CLI::App& parent);
Command AddLsCommand(CLI::App& parent);
Command AddRmCommand(CLI::App& parent);
Command AddStatCommand(CLI::App& parent);
Command AddInitCommand(CLI::App& parent);
Command AddDemoCommand(CLI::App& parent);
Command AddMbCommand(CLI::App& parent);
Command AddRbCommand(CLI::App& parent);
Command AddPresignCommand(CLI::App& parent);
Command AddServeCommand(CLI::App& parent);
Command AddKvCommand(CLI::App& parent);
Command AddHashCommand(CLI::App& parent);
Command AddCasCommand(CLI::App& parent);
Command AddNodeCommand(CLI::App& parent);

// n characters of A-Z and 0-9 from the system's random device (generated keys and tokens).
std::string RandomToken(size_t n);

// The help text describing location arguments, shown under every command's --help.
extern const char* const kLocationHelp;

// Prints "depot: <command>: <status>" to stderr and returns kExitFailed.
int ReportFailure(std::string_view command, const Status& status);
// Prints "depot: <command>: <status>" to stderr and returns kExitUsage.
int ReportUsage(std::string_view command, const Status& status);

}  // namespace depot::cli
