// depot serve [STORE] [--listen HOST:PORT] [--credentials FILE] [--json] [--access-log FILE]
// [--log-level LEVEL] [--max-connections N] [--idle-timeout SECONDS] [--region NAME]
// [--lifecycle-debug-interval SECONDS] [--sse-master-key FILE] [--allow-sse-c-over-http]
// [--cache DIR --cache-size SIZE [--cache-revalidate SECONDS]]: serves a store over the S3
// protocol until SIGINT or SIGTERM (server/s3_server.h has what is served), with --cache through
// a read-through cache on local disk (resource/cache/read_through_cache.h).
//
// STORE is any store URL (s3://, mem://, file://) or a directory, made a local store if it is not
// one yet; default ./var/depot. Credentials: --credentials FILE (one "ACCESS_KEY SECRET_KEY" pair
// per line, then optionally "admin" for a user who may use every bucket, "id=ID" and
// "name=NAME" for the canonical id and display name S3 shows the user as an owner by (default:
// the access key); '#' starts a comment), else DEPOT_ACCESS_KEY and DEPOT_SECRET_KEY, else
// AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY; with none, depot makes a pair and prints it. A single user from the
// environment is an admin. Each bucket belongs to the user who made it.
// Requests are logged one line each on stderr (info); --json also writes each as a JSON object on
// stdout, --access-log FILE to a file.
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "commands.h"
#include "depot/object/open.h"
#include "depot/resource/cache/read_through_cache.h"
#include "location.h"

#if DEPOT_WITH_SERVER
#include "depot/server/batched_sink.h"
#include "depot/server/s3_server.h"
#endif
#if DEPOT_WITH_LOCAL
#include "depot/object/local/local_store.h"
#endif

namespace depot::cli {
namespace {

struct ServeOptions {
  std::string store = "var/depot";
  std::string listen = "127.0.0.1:9000";
  std::string credentials;
  bool json = false;
  std::string access_log;
  std::string log_level = "info";
  int max_connections = 256;
  int idle_timeout = 60;
  int lifecycle_debug_interval = 0;  // seconds a lifecycle day lasts; 0: 24 hours
  std::string sse_master_key;        // a file
  bool allow_sse_c_over_http = false;
  std::string region = "us-east-1";
  std::string virtual_host_domain = "localhost";
  std::string cache_dir;
  std::string cache_size;
  int cache_revalidate = 10;
  std::string tls_cert;
  std::string tls_key;
};

#if DEPOT_WITH_SERVER
std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

struct Users {
  std::map<std::string, std::string> secrets;  // access key -> secret key
  std::set<std::string> admins;
  std::map<std::string, server::UserName> names;  // those given an id or a name
};

constexpr std::string_view kCredentialsLine = "ACCESS_KEY SECRET_KEY [admin] [id=ID] [name=NAME]";

// kCredentialsLine per line; blank lines and '#' comments skipped.
Result<Users> ReadCredentials(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return NotFoundError(fmt::format("--credentials \"{}\": cannot be read", path));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
    spdlog::warn("serve: credentials file \"{}\" can be read by others (chmod 600 it)", path);
  }
  Users users;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::string access;
    std::string secret;
    if (!(words >> access)) continue;
    if (!(words >> secret)) {
      return InvalidArgumentError(fmt::format("--credentials \"{}\" line {}: expected \"{}\"", path,
                                              number, kCredentialsLine));
    }
    if (users.secrets.contains(access)) {
      return InvalidArgumentError(fmt::format(
          "--credentials \"{}\" line {}: access key {} is given twice", path, number, access));
    }
    bool admin = false;
    std::optional<std::string> id;
    std::optional<std::string> name;
    for (std::string word; words >> word;) {
      const bool is_id = word.starts_with("id=");
      const bool is_name = word.starts_with("name=");
      std::optional<std::string>& field = is_id ? id : name;
      if (word == "admin" && !admin) {
        admin = true;
      } else if ((is_id || is_name) && !field && word.size() > word.find('=') + 1) {
        field = word.substr(word.find('=') + 1);
      } else {
        return InvalidArgumentError(
            fmt::format("--credentials \"{}\" line {}: \"{}\" is not admin, id=ID or name=NAME "
                        "(each at most once; expected \"{}\")",
                        path, number, word, kCredentialsLine));
      }
    }
    users.secrets[access] = secret;
    if (admin) users.admins.insert(access);
    if (id || name) users.names[access] = {id.value_or(access), name.value_or(access)};
  }
  if (users.secrets.empty()) {
    return InvalidArgumentError(fmt::format("--credentials \"{}\" holds no key pair", path));
  }
  return users;
}

Result<std::shared_ptr<object::ObjectStore>> OpenServed(const std::string& text) {
  if (text.find("://") != std::string::npos) return object::Open(text);
#if DEPOT_WITH_LOCAL
  object::LocalStoreOptions options;
  options.create = true;
  DEPOT_ASSIGN_OR_RETURN(auto store, object::LocalStore::Open(text, options));
  return std::shared_ptr<object::ObjectStore>(std::move(store));
#else
  return object::Open(text);
#endif
}

int RunServe(const ServeOptions& options) {
  constexpr std::string_view kCmd = "serve";
  server::S3ServerOptions server_options;
  const size_t colon = options.listen.rfind(':');
  unsigned port = 0;
  const char* end = options.listen.data() + options.listen.size();
  if (colon == std::string::npos ||
      std::from_chars(options.listen.data() + colon + 1, end, port).ptr != end || port > 65535) {
    return ReportUsage(kCmd, InvalidArgumentError(
                                 fmt::format("--listen \"{}\" is not HOST:PORT", options.listen)));
  }
  server_options.host = options.listen.substr(0, colon);
  server_options.port = static_cast<uint16_t>(port);
  server_options.region = options.region;
  server_options.virtual_host_domain = options.virtual_host_domain;
  server_options.max_connections = options.max_connections;
  server_options.idle_timeout = std::chrono::seconds(options.idle_timeout);
  if (options.lifecycle_debug_interval > 0) {
    server_options.lifecycle_day = std::chrono::seconds(options.lifecycle_debug_interval);
  }
  if (!options.sse_master_key.empty()) {
    std::ifstream file(options.sse_master_key, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    if (!file || bytes.str().size() < 32) {
      return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                   "--sse-master-key \"{}\": cannot read 32 or more bytes from it "
                                   "(make one with: head -c 32 /dev/urandom > FILE)",
                                   options.sse_master_key)));
    }
    server_options.sse_master_key = bytes.str();
  }
  server_options.allow_sse_c_over_http = options.allow_sse_c_over_http;
  server_options.access_log = options.json ? "-" : options.access_log;
  server_options.tls_cert_file = options.tls_cert;
  server_options.tls_key_file = options.tls_key;
  if (options.json && !options.access_log.empty()) {
    return ReportUsage(kCmd, InvalidArgumentError("--json and --access-log both name where the "
                                                  "JSON access log goes: give one"));
  }
  const auto level = spdlog::level::from_str(options.log_level);
  if (level == spdlog::level::off && options.log_level != "off") {
    return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                 "--log-level \"{}\" is not trace, debug, info, warn, error or off",
                                 options.log_level)));
  }
  // A line per request: written in batches, not a write(2) each (BatchedSink).
  auto logger = std::make_shared<spdlog::logger>(
      "depot", std::make_shared<server::BatchedSink>(STDERR_FILENO));
  logger->set_level(level);
  spdlog::set_default_logger(logger);

  std::string access = Env("DEPOT_ACCESS_KEY");
  std::string secret = Env("DEPOT_SECRET_KEY");
  if (access.empty() || secret.empty()) {
    access = Env("AWS_ACCESS_KEY_ID");
    secret = Env("AWS_SECRET_ACCESS_KEY");
  }
  bool generated = false;
  if (!options.credentials.empty()) {
    auto users = ReadCredentials(options.credentials);
    if (!users.ok()) return ReportUsage(kCmd, users.status());
    server_options.credentials = std::move(users->secrets);
    server_options.admins = std::move(users->admins);
    server_options.names = std::move(users->names);
    access = server_options.credentials.begin()->first;
  } else {
    generated = access.empty() || secret.empty();
    if (generated) {
      access = "DEPOT" + RandomToken(15);
      secret = RandomToken(40);
    }
    server_options.credentials[access] = secret;
    // The only user: nobody to keep apart, and buckets from before owners were recorded are its.
    server_options.admins.insert(access);
  }

  if (options.cache_dir.empty() != options.cache_size.empty()) {
    return ReportUsage(kCmd, InvalidArgumentError("--cache DIR and --cache-size SIZE go together"));
  }
  uint64_t cache_bytes = 0;
  if (!options.cache_size.empty()) {
    Result<uint64_t> parsed = ParseByteSize(options.cache_size);
    if (!parsed.ok()) return ReportUsage(kCmd, parsed.status().WithContext("--cache-size"));
    if (*parsed == 0) return ReportUsage(kCmd, InvalidArgumentError("--cache-size must be > 0"));
    cache_bytes = *parsed;
  }

  auto store = OpenServed(options.store);
  if (!store.ok()) return ReportFailure(kCmd, store.status().WithContext(options.store));
  if (!options.cache_dir.empty()) {
    resource::CacheOptions cache_options;
    cache_options.dir = options.cache_dir;
    cache_options.max_bytes = cache_bytes;
    cache_options.revalidate_after = std::chrono::seconds(options.cache_revalidate);
    auto cache = resource::ReadThroughCache::Open(*store, cache_options);
    if (!cache.ok()) return ReportFailure(kCmd, cache.status());
    const resource::CacheStats found = (*cache)->stats();
    spdlog::info("cache {}: {} objects, {} of {} bytes", options.cache_dir, found.entries,
                 found.bytes, cache_bytes);
    store = std::shared_ptr<object::ObjectStore>(*cache);
  }

  // The signals are taken synchronously below: blocked here, before any server thread exists, so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = server::S3Server::Start(*store, server_options);
  if (!server.ok()) return ReportFailure(kCmd, server.status());
  const bool tls = !options.tls_cert.empty();
  const std::string endpoint =
      fmt::format("{}://{}:{}", tls ? "https" : "http", server_options.host, (*server)->port());
  // The banner goes to stderr when stdout carries the JSON access log.
  FILE* banner = options.json ? stderr : stdout;
  fmt::print(banner, "depot serve: {} on {}\n", (*store)->ToString(), endpoint);
  const std::string shown_secret =
      generated
          ? secret
          : (options.credentials.empty() ? "<DEPOT_SECRET_KEY>" : "<from the credentials file>");
  fmt::print(banner,
             "  credentials{}:\n"
             "    export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={}{}\n"
             "  then, for example:\n"
             "    aws --endpoint-url {} s3 mb s3://demo\n"
             "    aws --endpoint-url {} s3 cp README.md s3://demo/\n"
             "    aws --endpoint-url {} s3 ls s3://demo/\n"
             "  Ctrl-C stops.\n",
             generated ? " (generated; set DEPOT_ACCESS_KEY and DEPOT_SECRET_KEY to choose)" : "",
             access, shown_secret, server_options.region,
             // Clients trust a self-signed certificate when told to.
             tls ? fmt::format(" AWS_CA_BUNDLE={}", options.tls_cert) : "", endpoint, endpoint,
             endpoint);
  std::fflush(banner);
  int received = 0;
  sigwait(&signals, &received);
  fmt::print(banner, "depot serve: {}, stopping\n",
             received == SIGINT ? "interrupted" : "terminated");
  (*server)->Stop();
  spdlog::default_logger()->flush();
  return kExitOk;
}
#endif

}  // namespace

Command AddServeCommand(CLI::App& parent) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* app = parent.add_subcommand(
      "serve", "Serve a store over the S3 protocol (awscli, boto3, s3cmd, depot's own s3://)");
  app->add_option("store", options->store,
                  "Store URL or directory to serve (a directory becomes a local store)")
      ->capture_default_str();
  app->add_option("--listen", options->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  app->add_option(
      "--credentials", options->credentials,
      "File of \"ACCESS_KEY SECRET_KEY [admin] [id=ID] [name=NAME]\" lines; admins may use "
      "every bucket, others their own; id and name are how S3 shows the user as an owner "
      "(else DEPOT_ACCESS_KEY/DEPOT_SECRET_KEY, "
      "else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else generated)");
  app->add_flag("--json", options->json, "Also write each request as a JSON line on stdout");
  app->add_option("--access-log", options->access_log, "Write each request as a JSON line here");
  app->add_option("--log-level", options->log_level,
                  "trace, debug, info (a line per request), warn, error or off")
      ->capture_default_str();
  app->add_option("--max-connections", options->max_connections, "Concurrent connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app->add_option("--idle-timeout", options->idle_timeout,
                  "Seconds before an idle or stalled connection is closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app->add_option("--lifecycle-debug-interval", options->lifecycle_debug_interval,
                  "For tests: a day of lifecycle rules lasts this many seconds (as RGW's "
                  "rgw_lc_debug_interval), not rounded to midnight; 0: 24 hours")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400));
  app->add_option("--sse-master-key", options->sse_master_key,
                  "Serve SSE-S3: object keys are derived from the 32 or more random bytes of this "
                  "file (losing it loses every SSE-S3 object)")
      ->type_name("FILE");
  app->add_flag("--allow-sse-c-over-http", options->allow_sse_c_over_http,
                "Take customer keys (SSE-C) over plain HTTP too (S3 refuses them; for tests and "
                "loopback)");
  app->add_option("--region", options->region,
                  "Region reported to clients (requests signed for any region are accepted)")
      ->capture_default_str();
  app->add_option(
         "--virtual-host-domain", options->virtual_host_domain,
         "Host BUCKET.<this> addresses BUCKET virtual-hosted style (\"\": path style only)")
      ->capture_default_str();
  app->add_option("--cache", options->cache_dir,
                  "Keep what is read in this directory and serve it from there (a read-through "
                  "cache, kept across restarts; writes go through)")
      ->type_name("DIR");
  app->add_option("--cache-size", options->cache_size,
                  "The cache's size, e.g. 20GiB (least recently used objects are evicted)")
      ->type_name("BYTES");
  app->add_option("--cache-revalidate", options->cache_revalidate,
                  "Seconds a cached object is served before the store is asked whether it "
                  "changed (0: every read asks)")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400 * 365));
  app->add_option("--tls-cert", options->tls_cert,
                  "Serve HTTPS with this PEM certificate chain (with --tls-key)")
      ->type_name("FILE");
  app->add_option("--tls-key", options->tls_key, "The PEM private key of --tls-cert")
      ->type_name("FILE");
  return {app, [options] {
#if DEPOT_WITH_SERVER
            return RunServe(*options);
#else
            return ReportFailure("serve", UnimplementedError("depot was built without DEPOT_WITH_SERVER"));
#endif
          }};
}

}  // namespace depot::cli
