// progressive_play: plays one object of any store as a media player would, while it downloads.
//
//   progressive_play STORE_URL KEY [--upload-mib N] [--seeks N] [--seed N]
//
// A Fetcher (resource/fetch/fetcher.h) downloads KEY into a memory resource in parallel; the
// player reads it in order, 256 KiB at a time, and every so often seeks to a random place and
// plays on from there. It prints how long the first read after each seek waited (the seek's
// range goes to the front of the download queue), then the total, and checks every byte played
// against a plain Get of the object. --upload-mib first stores N MiB of random bytes at KEY.
// Exit status: 0 when every byte played was right, 1 otherwise (the error on stderr), 2 for a
// bad argument.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "depot/object/open.h"
#include "depot/resource/fetch/fetcher.h"
#include "depot/resource/memory/memory_driver.h"

namespace {

using Clock = std::chrono::steady_clock;
using depot::Status;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Args {
  std::string url;
  std::string key;
  uint64_t upload_mib = 0;
  int seeks = 8;
  uint64_t seed = 1;
};

bool Parse(int argc, char** argv, Args& args) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--upload-mib" || arg == "--seeks" || arg == "--seed") && i + 1 < argc) {
      const std::string_view text = argv[++i];
      uint64_t value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc() || end != text.data() + text.size() ||
          (arg == "--seeks" && value > 1'000'000) || (arg == "--upload-mib" && value > 8192)) {
        fmt::print(stderr, "progressive_play: {} \"{}\" is not a number in range\n", arg, text);
        return false;
      }
      if (arg == "--upload-mib") args.upload_mib = value;
      if (arg == "--seeks") args.seeks = static_cast<int>(value);
      if (arg == "--seed") args.seed = value;
    } else if (arg.starts_with("--")) {
      fmt::print(stderr, "progressive_play: unknown option \"{}\"\n", arg);
      return false;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) {
    fmt::print(stderr,
               "usage: progressive_play STORE_URL KEY [--upload-mib N] [--seeks N] "
               "[--seed N]\n");
    return false;
  }
  args.url = positional[0];
  args.key = positional[1];
  return true;
}

Status Play(const Args& args) {
  DEPOT_ASSIGN_OR_RETURN(auto store, depot::object::Open(args.url));
  std::mt19937_64 rng(args.seed);
  if (args.upload_mib > 0) {
    std::string data(args.upload_mib << 20, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    DEPOT_RETURN_IF_ERROR(store->Put(args.key, depot::Bytes::FromString(std::move(data))).status());
  }
  const auto started = Clock::now();
  depot::resource::Resource resource =
      depot::resource::OpenMemoryResource({.max_size = 8ull << 30});
  DEPOT_ASSIGN_OR_RETURN(auto fetcher,
                         depot::resource::Fetcher::Start(*store, args.key, resource, {}));
  const uint64_t size = fetcher->meta().size;
  const depot::resource::ResourceReader reader = resource.reader();
  constexpr uint64_t kPiece = 256 << 10;
  std::string played(size, '\0');
  const uint64_t seek_every = size / static_cast<uint64_t>(args.seeks + 1) + 1;
  uint64_t position = 0;
  uint64_t since_seek = 0;
  int seek = 0;
  std::vector<double> waits;
  fmt::print("{} ({} bytes): playing, {} seeks\n", args.key, size, args.seeks);
  for (uint64_t read = 0; read < size;) {
    const bool seeking = since_seek >= seek_every && seek < args.seeks && size > kPiece;
    if (seeking) {
      position = (rng() % (size / kPiece)) * kPiece;
      since_seek = 0;
      ++seek;
    }
    if (position >= size) position = 0;  // played to the end: wrap to what is left
    const uint64_t n = std::min(kPiece, size - position);
    const auto before = Clock::now();
    DEPOT_ASSIGN_OR_RETURN(const size_t got,
                           reader.Read(position, std::span<char>(played.data() + position, n)));
    const Clock::duration waited = Clock::now() - before;
    if (seeking) {
      waits.push_back(Ms(waited));
      fmt::print("  seek {:2} to {:>12}: waited {:8.2f} ms\n", seek, position, Ms(waited));
    }
    if (got != n) return depot::DataLossError(fmt::format("short read at {}", position));
    position += n;
    read += n;
    since_seek += n;
  }
  DEPOT_RETURN_IF_ERROR(fetcher->Wait());
  const auto played_in = Clock::now() - started;
  DEPOT_ASSIGN_OR_RETURN(const depot::object::GetResult whole, store->Get(args.key));
  // Every byte was played at least once (the wrap covers what the seeks skipped) from the
  // resource, which holds the whole object now: compare it all.
  std::string resource_bytes(size, '\0');
  DEPOT_RETURN_IF_ERROR(reader.ReadAt(0, std::span<char>(resource_bytes)).status());
  if (resource_bytes != whole.data.view()) {
    return depot::DataLossError("the resource's bytes differ from the object's");
  }
  std::sort(waits.begin(), waits.end());
  const depot::resource::FetchStats stats = fetcher->stats();
  fmt::print(
      "done in {:.1f} ms: {} bytes fetched in {} chunks, {} reads reordered the queue; "
      "seek waits: median {:.2f} ms, max {:.2f} ms; every byte right\n",
      Ms(played_in), stats.bytes, stats.chunks, stats.demands,
      waits.empty() ? 0.0 : waits[waits.size() / 2], waits.empty() ? 0.0 : waits.back());
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, args)) return 2;
  const Status status = Play(args);
  if (!status.ok()) {
    fmt::print(stderr, "progressive_play: {}\n", status.ToString());
    return 1;
  }
  return 0;
}
