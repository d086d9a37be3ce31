// depot node run | put | get | providers | status | contracts | proofs: a storage network node
// (depot/node/node.h) and the commands that drive a running one.
//
// `depot node run DIR` keeps everything in DIR: node.key (its Ed25519 key), cas/ (its blobs: the
// local store and a RocksDB index), ledger/ (contracts, proofs, accounts: RocksDB). It serves the
// node endpoint on depot serve's HTTP stack at --listen, joins the DHT over UDP at --dht through
// the --bootstrap nodes, and writes DIR/endpoint and DIR/admin.token (mode 0600). The other
// commands read those two files and talk to the running node over HTTP: the admin routes are
// under /_node/v1/admin/<token>/, so only who can read DIR can use them. `put` hands the node the
// file's path: the node streams it into its store (never whole in memory), so the node's user
// must be able to read it. --json prints JSON instead of tables.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "depot/cas/open.h"
#include "depot/core/hex.h"
#include "depot/core/mutex.h"
#include "depot/core/unique_fd.h"
#include "depot/http/client.h"
#include "depot/kv/open.h"
#include "depot/node/node.h"
#include "depot/object/open.h"
#include "depot/server/s3_server.h"
#include "transfer.h"

namespace depot::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct NodeCliOptions {
  std::string dir;
  std::string listen = "127.0.0.1:9700";
  std::string dht = "127.0.0.1:4222";
  std::vector<std::string> bootstrap;
  uint32_t replication = 3;
  std::string tier = "warm";
  std::string quality = "basic";
  double record_ttl = 120;
  double announce = 40;
  double repair = 30;
  double proof_interval = 3600;
  double duration = 30 * 86400;
  uint32_t allowed_misses = 1;
  double dispute_window = 6 * 3600;
  bool lift_limits = false;
  std::string file;
  std::string id;
  std::string output;
  bool json = false;
};

int Report(std::string_view command, const Status& status) {
  if (status.code() == StatusCode::kInvalidArgument) return ReportUsage(command, status);
  return ReportFailure(command, status);
}

Result<std::string> ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(fmt::format("cannot read {}", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// --- the running node's admin routes ---

json ContractJson(const node::ContractRecord& c) {
  return {{"id", node::ContractIdHex(c.id)},
          {"role", c.role == node::Role::kClient ? "client" : "provider"},
          {"state", node::StateName(c.state)},
          {"client", c.client.ToHex()},
          {"provider", c.provider.ToHex()},
          {"provider_endpoint", c.provider_endpoint},
          {"content", c.terms.content.ToHex()},
          {"size", c.terms.size},
          {"tier", node::TierName(c.terms.tier)},
          {"quality", node::QualityName(c.terms.quality)},
          {"replication", c.terms.replication},
          {"epochs", c.terms.epochs()},
          {"price", c.price},
          {"escrow", c.escrow},
          {"paid", c.paid},
          {"penalties", c.penalties},
          {"passed", c.passed},
          {"failed", c.failed},
          {"last_epoch", c.last_epoch},
          {"note", c.note}};
}

json ProofJson(const node::ProofRecord& p) {
  return {{"contract", node::ContractIdHex(p.contract)},
          {"epoch", p.epoch},
          {"group", p.group},
          {"passed", p.passed},
          {"at_ms", p.at_ms},
          {"released", p.released},
          {"penalty", p.penalty},
          {"detail", p.detail}};
}

server::RawResponse JsonReply(const json& body) { return {200, body.dump(), "application/json"}; }

server::RawResponse Failure(const Status& status) {
  const int code = status.code() == StatusCode::kNotFound          ? 404
                   : status.code() == StatusCode::kInvalidArgument ? 400
                                                                   : 500;
  return {code, std::string(status.ToString()), "text/plain"};
}

// Streams the file at `path` into `blobs` (pinned).
Result<cas::PutBlobResult> StoreFile(cas::BlobStore& blobs, const std::string& path) {
  // Non-blocking: a FIFO named here must not hold the request thread; refused below.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    return InvalidArgumentError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgumentError(fmt::format("{} is not a regular file", path));
  }
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<cas::BlobWriter> writer, blobs.OpenWriter());
  std::string buffer(1 << 20, '\0');
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError(fmt::format("reading {}: {}", path, std::strerror(errno)));
    if (n == 0) break;
    DEPOT_RETURN_IF_ERROR(writer->Write({buffer.data(), static_cast<size_t>(n)}));
  }
  return writer->Finish();
}

server::RawResponse Admin(node::Node& node, cas::BlobStore& blobs, std::string_view route,
                          std::string body) {
  if (route == "put-file") {
    auto stored = StoreFile(blobs, body);
    if (!stored.ok()) return Failure(stored.status());
    auto put = node.Distribute(stored->id);
    if (!put.ok()) return Failure(put.status());
    json contracts = json::array();
    for (const auto& c : put->contracts) contracts.push_back(ContractJson(c));
    return JsonReply({{"id", put->id.ToHex()}, {"size", put->size}, {"contracts", contracts}});
  }
  if (route.starts_with("get/") || route.starts_with("providers/")) {
    const bool get = route.starts_with("get/");
    auto id = cas::ContentId::FromHex(route.substr(route.find('/') + 1));
    if (!id.ok()) return Failure(id.status());
    if (get) {
      auto bytes = node.Get(*id);
      if (!bytes.ok()) return Failure(bytes.status());
      return {200, std::move(*bytes)};
    }
    auto providers = node.Providers(*id);
    if (!providers.ok()) return Failure(providers.status());
    json out = json::array();
    for (const auto& p : *providers) {
      out.push_back({{"node", p.provider.ToHex()}, {"endpoint", p.endpoint}, {"size", p.size}});
    }
    return JsonReply(out);
  }
  if (route == "status") {
    auto status = node.Describe();
    if (!status.ok()) return Failure(status.status());
    return JsonReply({{"id", status->id.ToHex()},
                      {"endpoint", status->endpoint},
                      {"dht", status->dht.ToString()},
                      {"dht_good_nodes", status->dht_stats.good_nodes},
                      {"known_nodes", status->known_nodes},
                      {"blobs", status->blobs},
                      {"bytes", status->bytes},
                      {"balance", status->account.balance},
                      {"escrowed", status->account.escrowed}});
  }
  if (route == "contracts") {
    auto contracts = node.ledger().Contracts();
    if (!contracts.ok()) return Failure(contracts.status());
    json out = json::array();
    for (const auto& c : *contracts) out.push_back(ContractJson(c));
    return JsonReply(out);
  }
  if (route == "proofs") {
    auto proofs = node.ledger().Proofs();
    if (!proofs.ok()) return Failure(proofs.status());
    json out = json::array();
    for (const auto& p : *proofs) out.push_back(ProofJson(p));
    return JsonReply(out);
  }
  return Failure(NotFoundError(fmt::format("no admin route \"{}\"", route)));
}

int RunNode(const NodeCliOptions& options) {
  constexpr std::string_view kCmd = "node run";
  std::error_code ec;
  const fs::path dir = fs::absolute(options.dir, ec);  // the stores' URLs need a full path
  if (!ec) fs::create_directories(dir, ec);
  if (ec) return Report(kCmd, InvalidArgumentError(fmt::format("cannot make {}", options.dir)));
  auto dht_address = node::Address::Parse(options.dht);
  if (!dht_address.ok()) return Report(kCmd, dht_address.status().WithContext("--dht"));
  node::NodeOptions node_options;
  for (const std::string& peer : options.bootstrap) {
    auto address = node::Address::Parse(peer);
    if (!address.ok()) return Report(kCmd, address.status().WithContext("--bootstrap"));
    node_options.dht.bootstrap.push_back(*address);
  }
  auto tier = node::ParseTier(options.tier);
  if (!tier.ok()) return Report(kCmd, tier.status());
  node_options.tier = *tier;
  auto quality = node::ParseQuality(options.quality);
  if (!quality.ok()) return Report(kCmd, quality.status());
  node_options.quality = *quality;
  node_options.replication = options.replication;
  node_options.dht.record_ttl = std::chrono::seconds(static_cast<int64_t>(options.record_ttl));
  node_options.dht.unlimited_requests = options.lift_limits;
  node_options.announce_interval = Ms(options.announce);
  node_options.repair_interval = Ms(options.repair);
  node_options.proof_interval = Ms(options.proof_interval);
  node_options.contract_duration = Ms(options.duration);
  node_options.allowed_misses = options.allowed_misses;
  node_options.dispute_window = Ms(options.dispute_window);

  auto keys = node::KeyPair::LoadOrCreate(dir / "node.key");
  if (!keys.ok()) return Report(kCmd, keys.status());
  auto opened = cas::Open("cas://" + (dir / "cas").string());
  if (!opened.ok()) return Report(kCmd, opened.status());
  const std::shared_ptr<cas::BlobStore> blobs = std::move(*opened);
  auto ledger = kv::Open("rocksdb://" + (dir / "ledger").string());
  if (!ledger.ok()) return Report(kCmd, ledger.status());
  auto transport = node::OpenUdpTransport(*dht_address);
  if (!transport.ok()) return Report(kCmd, transport.status());

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The endpoint answers once the node is up (503 before).
  const std::string token = RandomToken(32);
  struct Holder {
    Mutex mu;
    node::Node* node DEPOT_GUARDED_BY(mu) = nullptr;
  };
  auto holder = std::make_shared<Holder>();
  server::S3ServerOptions server_options;
  const size_t colon = options.listen.rfind(':');
  unsigned port = 0;
  if (colon == std::string::npos ||
      std::from_chars(options.listen.data() + colon + 1,
                      options.listen.data() + options.listen.size(), port)
              .ptr != options.listen.data() + options.listen.size() ||
      port > 65535) {
    return ReportUsage(kCmd, InvalidArgumentError(
                                 fmt::format("--listen \"{}\" is not HOST:PORT", options.listen)));
  }
  server_options.host = options.listen.substr(0, colon);
  server_options.port = static_cast<uint16_t>(port);
  // The S3 side is not offered: one random user nobody is told about.
  server_options.credentials[RandomToken(20)] = RandomToken(40);
  const std::string admin_prefix = "/_node/v1/admin/" + token + "/";
  server_options.node_endpoint = [holder, admin_prefix, blobs](const server::RawRequest& request) {
    MutexLock lock(holder->mu);
    if (holder->node == nullptr) return server::RawResponse{503, "starting", "text/plain"};
    node::Node* node = holder->node;
    lock.Unlock();
    if (request.target.starts_with(admin_prefix)) {
      return Admin(*node, *blobs, std::string_view(request.target).substr(admin_prefix.size()),
                   request.body);
    }
    node::EndpointResponse response = node->Handle({request.method, request.target, request.body});
    return server::RawResponse{response.status, std::move(response.body),
                               std::move(response.content_type)};
  };
  auto served = object::Open("mem://");
  if (!served.ok()) return Report(kCmd, served.status());
  auto server = server::S3Server::Start(*served, server_options);
  if (!server.ok()) return Report(kCmd, server.status());
  node_options.endpoint = fmt::format("{}:{}", server_options.host, (*server)->port());

  node::NodeParts parts;
  parts.keys = *keys;
  parts.blobs = blobs;
  parts.ledger_store = std::move(*ledger);
  parts.transport = std::move(*transport);
  auto node = node::Node::Start(std::move(parts), node_options);
  if (!node.ok()) return Report(kCmd, node.status());
  {
    MutexLock lock(holder->mu);
    holder->node = node->get();
  }
  // Where the other commands find the node: the endpoint, and the admin token (private).
  const fs::path token_path = dir / "admin.token";
  {
    UniqueFd fd(::open(token_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid() || !WriteAll(fd.get(), token.data(), token.size(), "admin.token").ok()) {
      return Report(kCmd, UnavailableError(fmt::format("cannot write {}", token_path.string())));
    }
  }
  std::ofstream(dir / "endpoint") << node_options.endpoint << "\n";
  fmt::print("node {} at http://{}, DHT {}\n", (*node)->id().ToHex(), node_options.endpoint,
             (*node)->dht_address().ToString());
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  {
    MutexLock lock(holder->mu);
    holder->node = nullptr;
  }
  (*server)->Stop();
  (*node)->Stop();
  return kExitOk;
}

// --- the commands that drive a running node ---

Result<http::Response> CallAdmin(const std::string& dir, const std::string& method,
                                 const std::string& route, std::string body = {}) {
  DEPOT_ASSIGN_OR_RETURN(std::string endpoint, ReadText(fs::path(dir) / "endpoint"));
  DEPOT_ASSIGN_OR_RETURN(std::string token, ReadText(fs::path(dir) / "admin.token"));
  // A put or get of a big blob sends nothing back until it is done: no idle limit that matters.
  http::Client client({.idle_timeout = std::chrono::hours(24)});
  http::Request request{
      .method = method,
      .url = fmt::format("http://{}/_node/v1/admin/{}/{}", Trim(endpoint), Trim(token), route),
      .body = Bytes::FromString(std::move(body))};
  DEPOT_ASSIGN_OR_RETURN(http::Response response, client.Send(request, nullptr, {}));
  if (response.status != 200) {
    const std::string text = response.body.ToString();
    return response.status == 404 ? NotFoundError(text) : UnavailableError(text);
  }
  return response;
}

int RunPut(const NodeCliOptions& options) {
  constexpr std::string_view kCmd = "node put";
  std::error_code error;
  const fs::path file = fs::absolute(options.file, error);
  if (error || !fs::is_regular_file(file, error)) {
    return Report(kCmd, InvalidArgumentError(fmt::format("{} is not a file", options.file)));
  }
  auto response = CallAdmin(options.dir, "POST", "put-file", file.string());
  if (!response.ok()) return Report(kCmd, response.status());
  const json body = json::parse(response->body.view());
  if (options.json) {
    fmt::print("{}\n", body.dump());
  } else {
    fmt::print("{}  {}\n", body["id"].get<std::string>(), options.file);
    for (const json& c : body["contracts"]) {
      fmt::print("  contract {} with {} at {}\n", c["id"].get<std::string>().substr(0, 16),
                 c["provider"].get<std::string>().substr(0, 12),
                 c["provider_endpoint"].get<std::string>());
    }
  }
  return kExitOk;
}

int RunGet(const NodeCliOptions& options) {
  constexpr std::string_view kCmd = "node get";
  auto id = cas::ContentId::FromHex(options.id);
  if (!id.ok()) return Report(kCmd, id.status());
  auto response = CallAdmin(options.dir, "GET", "get/" + options.id);
  if (!response.ok()) return Report(kCmd, response.status());
  if (options.output.empty()) {
    const Status written =
        WriteAll(STDOUT_FILENO, response->body.view().data(), response->body.size(), "stdout");
    return written.ok() ? kExitOk : ReportFailure(kCmd, written);
  }
  std::ofstream(options.output, std::ios::binary) << response->body.view();
  return kExitOk;
}

int RunShow(const NodeCliOptions& options, const std::string& route) {
  const std::string command = "node " + route.substr(0, route.find('/'));
  auto response = CallAdmin(options.dir, "GET", route);
  if (!response.ok()) return Report(command, response.status());
  const json body = json::parse(response->body.view());
  if (options.json) {
    fmt::print("{}\n", body.dump());
    return kExitOk;
  }
  if (route == "status") {
    for (const auto& [name, value] : body.items()) fmt::print("{:<16}{}\n", name, value.dump());
  } else if (route == "contracts") {
    fmt::print("{:<16}  {:<8}  {:<10}  {:<12}  {:>6}  {:>6}  {:>14}  {:>14}\n", "CONTRACT", "ROLE",
               "STATE", "PEER", "PASSED", "FAILED", "PAID", "ESCROW");
    for (const json& c : body) {
      const bool client = c["role"] == "client";
      fmt::print("{:<16}  {:<8}  {:<10}  {:<12}  {:>6}  {:>6}  {:>14}  {:>14}\n",
                 c["id"].get<std::string>().substr(0, 16), c["role"].get<std::string>(),
                 c["state"].get<std::string>(),
                 c[client ? "provider" : "client"].get<std::string>().substr(0, 12),
                 c["passed"].get<uint64_t>(), c["failed"].get<uint64_t>(),
                 c["paid"].get<uint64_t>(), c["escrow"].get<uint64_t>());
    }
  } else if (route == "proofs") {
    fmt::print("{:<16}  {:>6}  {:>8}  {:<6}  {}\n", "CONTRACT", "EPOCH", "GROUP", "RESULT",
               "DETAIL");
    for (const json& p : body) {
      fmt::print("{:<16}  {:>6}  {:>8}  {:<6}  {}\n",
                 p["contract"].get<std::string>().substr(0, 16), p["epoch"].get<uint64_t>(),
                 p["group"].get<uint64_t>(), p["passed"].get<bool>() ? "passed" : "FAILED",
                 p["detail"].get<std::string>());
    }
  } else {  // providers
    for (const json& p : body) {
      fmt::print("{}  {}\n", p["node"].get<std::string>(), p["endpoint"].get<std::string>());
    }
  }
  return kExitOk;
}

}  // namespace

Command AddNodeCommand(CLI::App& parent) {
  auto options = std::make_shared<NodeCliOptions>();
  CLI::App* node = parent.add_subcommand(
      "node", "A storage network node: run, put, get, providers, status, contracts, proofs");
  node->require_subcommand(1);
  const auto dir = [&](CLI::App* app) {
    app->add_option("dir", options->dir, "the node's directory")->required();
  };
  CLI::App* run = node->add_subcommand("run", "Run a node over DIR until Ctrl-C");
  dir(run);
  run->add_option("--listen", options->listen, "HOST:PORT of its HTTP endpoint (port 0: any)");
  run->add_option("--dht", options->dht, "IPv4:PORT of its DHT socket (UDP)");
  run->add_option("--bootstrap", options->bootstrap, "DHT address of a node to join through");
  run->add_option("--replication", options->replication, "copies of each blob put here (1..12)");
  run->add_option("--tier", options->tier, "hot, warm, cold or archive (pricing)");
  run->add_option("--quality", options->quality, "basic, premium or enterprise (pricing)");
  run->add_option("--record-ttl", options->record_ttl, "seconds the DHT keeps a record (>= 20)");
  run->add_option("--announce", options->announce, "seconds between announcements");
  run->add_option("--repair", options->repair, "seconds between replication checks");
  run->add_option("--proof-interval", options->proof_interval, "seconds between challenges");
  run->add_option("--duration", options->duration, "seconds a contract lasts");
  run->add_option("--allowed-misses", options->allowed_misses, "failed proofs before a breach");
  run->add_option("--dispute-window", options->dispute_window,
                  "seconds a provider may stay unreachable before its challenge fails");
  run->add_flag("--lift-limits", options->lift_limits,
                "lift OpenDHT's per-IP request limits (many nodes on one machine)");
  CLI::App* put = node->add_subcommand("put", "Store FILE through the node (under contracts)");
  dir(put);
  put->add_option("file", options->file, "the file")->required();
  CLI::App* get = node->add_subcommand("get", "Fetch a blob by id from the network, verified");
  dir(get);
  get->add_option("id", options->id, "the blob's id (64 hex digits)")->required();
  get->add_option("-o,--output", options->output, "write to FILE instead of stdout");
  CLI::App* providers = node->add_subcommand("providers", "The live providers of a blob");
  dir(providers);
  providers->add_option("id", options->id, "the blob's id")->required();
  CLI::App* status = node->add_subcommand("status", "The node: id, endpoint, DHT, store, balance");
  CLI::App* contracts = node->add_subcommand("contracts", "The node's contracts");
  CLI::App* proofs = node->add_subcommand("proofs", "The proofs checked under its contracts");
  for (CLI::App* app : {status, contracts, proofs, put, providers}) {
    if (app != put && app != providers) dir(app);
    app->add_flag("--json", options->json, "print JSON");
  }
  return Command{node, [=] {
                   if (run->parsed()) return RunNode(*options);
                   if (put->parsed()) return RunPut(*options);
                   if (get->parsed()) return RunGet(*options);
                   if (providers->parsed()) return RunShow(*options, "providers/" + options->id);
                   if (status->parsed()) return RunShow(*options, "status");
                   if (contracts->parsed()) return RunShow(*options, "contracts");
                   return RunShow(*options, "proofs");
                 }};
}

}  // namespace depot::cli
