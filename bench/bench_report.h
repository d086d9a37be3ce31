// What every depot benchmark program shares: a console reporter that keeps each repetition's
// time per operation (and counters) for the ratio table printed at the end, medians over the
// repetitions, and the command line that turns random interleaving on by default, so that a
// benchmark and its baseline alternate and a burst of load hits both.
#pragma once

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace depot::bench {

struct Captured {
  std::vector<double> seconds_per_iteration;  // one per repetition
  std::map<std::string, double> counters;     // of the last repetition
  // The median over repetitions: robust to one repetition that a neighbour's I/O disturbed.
  double Median() const {
    std::vector<double> sorted = seconds_per_iteration;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
};

// The console output as usual, plus every repetition kept for the ratio table (aggregates are
// recomputed there, not taken from the library).
class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  explicit CapturingReporter(OutputOptions options) : ConsoleReporter(options) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred || run.iterations == 0) {
        continue;
      }
      Captured& captured = results_[run.run_name.function_name];
      captured.seconds_per_iteration.push_back(run.real_accumulated_time /
                                               static_cast<double>(run.iterations));
      for (const auto& [name, counter] : run.counters) captured.counters[name] = counter.value;
    }
  }
  const Captured* Find(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() || it->second.seconds_per_iteration.empty() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, Captured> results_;
};

inline std::string Seconds(double s) {
  if (s >= 1) return fmt::format("{:.2f} s", s);
  if (s >= 1e-3) return fmt::format("{:.2f} ms", s * 1e3);
  return fmt::format("{:.2f} us", s * 1e6);
}

// Prints "ratio DEPOT : BASELINE  x" where x = baseline time / depot time per operation.
inline void PrintSpeedRatio(const CapturingReporter& reporter, const std::string& depot,
                            const std::string& baseline) {
  const Captured* a = reporter.Find(depot);
  const Captured* b = reporter.Find(baseline);
  if (a == nullptr || b == nullptr) {
    std::printf("ratio %-55s : %-20s   (missing)\n", depot.c_str(), baseline.c_str());
    return;
  }
  std::printf("ratio %-55s : %-20s %9.3g   (%s vs %s per op)\n", depot.c_str(), baseline.c_str(),
              b->Median() / a->Median(), Seconds(a->Median()).c_str(),
              Seconds(b->Median()).c_str());
}

// Initializes Google Benchmark with random interleaving on unless the command line chose;
// false when the command line has arguments it does not know.
inline bool InitializeInterleaved(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  static std::string interleave = "--benchmark_enable_random_interleaving=true";
  bool user_chose = false;
  for (int i = 1; i < argc; ++i) {
    user_chose |= std::string_view(argv[i]).starts_with("--benchmark_enable_random_interleaving");
  }
  if (!user_chose) args.insert(args.begin() + 1, interleave.data());
  int arg_count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&arg_count, args.data());
  return !benchmark::ReportUnrecognizedArguments(arg_count, args.data());
}

// $DEPOT_BENCH_DIR (default ./var/bench)/<stem>-run-<pid>, created; empty (after a message on
// stderr) when it cannot be.
inline std::filesystem::path MakeRunDir(std::string_view stem) {
  const char* env = std::getenv("DEPOT_BENCH_DIR");
  const std::filesystem::path base =
      std::filesystem::absolute(env != nullptr && *env != '\0' ? env : "var/bench");
  const std::filesystem::path dir = base / fmt::format("{}-run-{}", stem, getpid());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return {};
  }
  return dir;
}

}  // namespace depot::bench
