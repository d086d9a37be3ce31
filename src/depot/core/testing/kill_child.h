// depot::testing::RunAndKill: the kill -9 half of the crash tests (kv, cas). Runs a writer
// process whose stdout is a pipe; once it prints the line "R" (its store is open, however long
// that takes on a loaded machine: up to 30 s) it runs for `run_for` more and is killed with
// SIGKILL, so that the kill lands among its writes. Returns the complete lines it printed ("R"
// left out; a line the kill cut short is not acknowledged and left out too) and whether it died
// by the kill (false: it ended on its own, and `output` says why).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace depot::testing {

struct KilledChild {
  std::vector<std::string> lines;
  bool killed = false;
  std::string output;  // everything it printed
};

inline KilledChild RunAndKill(const std::vector<std::string>& argv,
                              std::chrono::milliseconds run_for) {
  KilledChild result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return result;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string& received = result.output;
  char buffer[4096];
  bool ended = false;
  // Reads what is there until `until` (or the end of the output); false when the pipe closed.
  const auto read_until = [&](auto until, auto done) {
    while (!ended && !done()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      struct pollfd poll_fd = {fds[0], POLLIN, 0};
      if (::poll(&poll_fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 100))) <= 0) {
        continue;
      }
      const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
      if (n <= 0) ended = true;
      if (n > 0) received.append(buffer, static_cast<size_t>(n));
    }
  };
  read_until(std::chrono::steady_clock::now() + std::chrono::seconds(30),
             [&] { return received.find("R\n") != std::string::npos; });
  read_until(std::chrono::steady_clock::now() + run_for, [] { return false; });
  ::kill(pid, SIGKILL);
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof(buffer))) > 0;) {
    received.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  for (size_t start = 0; start < received.size();) {
    const size_t end = received.find('\n', start);
    if (end == std::string::npos) break;  // cut short by the kill: not acknowledged
    std::string line = received.substr(start, end - start);
    start = end + 1;
    if (line != "R") result.lines.push_back(std::move(line));
  }
  return result;
}

}  // namespace depot::testing
