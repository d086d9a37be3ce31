// The AWS credential and region chain, read-only and without network access.
//
// The shared files are parsed the way the AWS CLI (Python's configparser, as botocore uses it)
// reads them, minus what nobody writes in these files:
//   - "[name]" starts a section; in the config file "[profile  name ]" is normalised to
//     "profile name". A section may appear only once per file.
//   - "key = value" or "key: value", split at the first '=' or ':'; the key is trimmed and
//     lower-cased, the value trimmed, quotes kept. A key may appear once per section.
//   - Whole-line comments start with '#' or ';' (a '#' later in a line belongs to the value, as
//     in the CLI). Blank lines are skipped, CRLF endings and a UTF-8 BOM accepted.
//   - A line indented deeper than the key line before it continues that key: this is how nested
//     settings ("s3 =\n    addressing_style = path") are written; they are skipped.
// Anything else (a line without '=' or ':', a key before any section, "[" without "]", a
// repeated section or key) is kInvalidArgument naming the file and the line, never echoing the
// line itself, which may hold a secret.
#include "depot/s3/credentials.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/ascii.h"
#include "depot/core/quote.h"
#include "depot/core/unique_fd.h"

namespace depot::s3 {
namespace {

constexpr size_t kMaxAwsFileBytes = size_t{1} << 20;
constexpr std::string_view kDefaultRegion = "us-east-1";

// Section name -> lower-cased key -> value.
using IniSections = std::map<std::string, std::map<std::string, std::string>>;

// "profile   dev" -> "profile dev"; other names unchanged.
std::string NormaliseSectionName(std::string_view name) {
  constexpr std::string_view kProfile = "profile";
  if (name.size() > kProfile.size() && name.substr(0, kProfile.size()) == kProfile &&
      (name[kProfile.size()] == ' ' || name[kProfile.size()] == '\t')) {
    return fmt::format("profile {}", TrimBlanks(name.substr(kProfile.size())));
  }
  return std::string(name);
}

Result<IniSections> ParseIni(std::string_view path, std::string_view text) {
  auto error = [path](size_t line, std::string_view what) {
    return InvalidArgumentError(fmt::format("AWS file {} line {}: {}", Quote(path), line, what));
  };
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());

  IniSections sections;
  std::map<std::string, size_t> section_lines;
  std::map<std::string, std::string>* section = nullptr;
  std::string section_name;
  // Indentation of the last key line in this section, while continuation lines may follow it.
  std::optional<size_t> key_indent;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    const size_t indent = std::min(line.find_first_not_of(" \t"), line.size());
    const std::string_view content = TrimBlanks(line);
    if (content.empty() || content.front() == '#' || content.front() == ';') continue;
    if (key_indent && indent > *key_indent) continue;  // a nested setting or a continuation

    if (content.front() == '[') {
      if (content.back() != ']') return error(line_number, "section header without a closing ']'");
      std::string name = NormaliseSectionName(TrimBlanks(content.substr(1, content.size() - 2)));
      if (name.empty()) return error(line_number, "empty section name");
      if (auto [it, inserted] = section_lines.try_emplace(name, line_number); !inserted) {
        return error(line_number,
                     fmt::format("section [{}] repeated (first at line {})", name, it->second));
      }
      section = &sections[name];
      section_name = std::move(name);
      key_indent.reset();
      continue;
    }

    size_t delimiter = content.find_first_of("=:");
    if (delimiter == std::string_view::npos) {
      return error(line_number, "expected \"key = value\", a [section] header or a comment");
    }
    std::string key = AsciiLower(TrimBlanks(content.substr(0, delimiter)));
    if (key.empty()) return error(line_number, "empty key");
    if (section == nullptr) {
      return error(line_number, fmt::format("key \"{}\" before any [section] header", key));
    }
    if (!section->try_emplace(key, TrimBlanks(content.substr(delimiter + 1))).second) {
      return error(line_number, fmt::format("key \"{}\" repeated in [{}]", key, section_name));
    }
    key_indent = indent;
  }
  return sections;
}

// The file's contents; nullopt when it does not exist. A FIFO or device is refused rather than
// read (O_NONBLOCK keeps open() of a FIFO from waiting for a writer).
Result<std::optional<std::string>> ReadAwsFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::string>();
    return ErrnoToStatus(errno, fmt::format("AWS file {}", Quote(path)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return ErrnoToStatus(errno, fmt::format("AWS file {}", Quote(path)));
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgumentError(fmt::format("AWS file {} is not a regular file", Quote(path)));
  }
  std::string data;
  char buffer[16384];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, fmt::format("AWS file {}", Quote(path)));
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > kMaxAwsFileBytes) {
      return InvalidArgumentError(
          fmt::format("AWS file {} is larger than {} bytes", Quote(path), kMaxAwsFileBytes));
    }
  }
  return std::optional<std::string>(std::move(data));
}

// An environment variable, with an empty value counting as unset.
std::string Get(const Environment& env, const std::string& name) { return env(name).value_or(""); }

// Where one of the shared files is: `variable`'s value (a leading "~" expanded from HOME), else
// ~/.aws/<name>. `path` is empty when HOME would be needed but is unset; `shown` is the path,
// or what could not be resolved, for messages.
struct AwsFilePlace {
  std::string path;
  std::string shown;
};

AwsFilePlace LocateAwsFile(const Environment& env, const std::string& variable,
                           std::string_view name) {
  std::string path = Get(env, variable);
  if (path.empty()) path = fmt::format("~/.aws/{}", name);
  if (path == "~" || path.starts_with("~/")) {
    std::string home = Get(env, "HOME");
    if (home.empty()) return {"", fmt::format("{} (HOME unset)", path)};
    path = home + path.substr(1);
  }
  return {path, path};
}

// A shared file, loaded: nullopt sections when there is no such file (or no HOME to find it).
struct AwsFile {
  AwsFilePlace place;
  std::optional<IniSections> sections;
};

Result<AwsFile> LoadAwsFile(const Environment& env, const std::string& variable,
                            std::string_view name) {
  AwsFile file{LocateAwsFile(env, variable, name), std::nullopt};
  if (file.place.path.empty()) return file;
  DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> text, ReadAwsFile(file.place.path));
  if (text) {
    DEPOT_ASSIGN_OR_RETURN(file.sections, ParseIni(file.place.path, *text));
  }
  return file;
}

std::string ProfileName(const CredentialOptions& options, const Environment& env) {
  if (!options.profile.empty()) return options.profile;
  std::string profile = Get(env, "AWS_PROFILE");
  return profile.empty() ? "default" : profile;
}

std::string ConfigSectionName(const std::string& profile) {
  return profile == "default" ? profile : "profile " + profile;
}

// Looks `section` up in `file` for credentials. Sets `found` and returns OK when the section
// holds an access key; returns OK with `found` untouched and a note in `looked_at` when it does
// not; kInvalidArgument when it holds a key without its secret.
Status CredentialsFromFile(const AwsFile& file, const std::string& section,
                           std::optional<Credentials>& found, std::vector<std::string>& looked_at) {
  if (!file.sections) {
    looked_at.push_back(fmt::format("{}: no such file", file.place.shown));
    return Status::Ok();
  }
  auto it = file.sections->find(section);
  if (it == file.sections->end()) {
    looked_at.push_back(fmt::format("{}: no [{}] section", file.place.shown, section));
    return Status::Ok();
  }
  auto value = [&it](const char* key) {
    auto entry = it->second.find(key);
    return entry == it->second.end() ? std::string() : entry->second;
  };
  Credentials credentials{value("aws_access_key_id"), value("aws_secret_access_key"),
                          value("aws_session_token")};
  if (credentials.access_key_id.empty()) {
    looked_at.push_back(
        fmt::format("{}: [{}] has no aws_access_key_id", file.place.shown, section));
    return Status::Ok();
  }
  if (credentials.secret_access_key.empty()) {
    return InvalidArgumentError(
        fmt::format("AWS file {} [{}]: aws_access_key_id {} without aws_secret_access_key",
                    Quote(file.place.path), section, Quote(credentials.access_key_id)));
  }
  found = std::move(credentials);
  return Status::Ok();
}

}  // namespace

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<Credentials> ResolveCredentials(const CredentialOptions& options, const Environment& env) {
  if (!options.access_key_id.empty() || !options.secret_access_key.empty() ||
      !options.session_token.empty()) {
    if (options.access_key_id.empty() || options.secret_access_key.empty()) {
      return InvalidArgumentError(fmt::format(
          "explicit credentials need both an access key id and a secret access key (got access "
          "key id {}, {} secret)",
          Quote(options.access_key_id), options.secret_access_key.empty() ? "no" : "a"));
    }
    return Credentials{options.access_key_id, options.secret_access_key, options.session_token};
  }

  std::vector<std::string> looked_at = {"explicit options: none"};
  if (options.profile.empty()) {
    std::string access_key_id = Get(env, "AWS_ACCESS_KEY_ID");
    if (!access_key_id.empty()) {
      std::string secret = Get(env, "AWS_SECRET_ACCESS_KEY");
      if (secret.empty()) {
        return InvalidArgumentError(fmt::format(
            "environment: AWS_ACCESS_KEY_ID is set ({}) but AWS_SECRET_ACCESS_KEY is not",
            Quote(access_key_id)));
      }
      return Credentials{std::move(access_key_id), std::move(secret),
                         Get(env, "AWS_SESSION_TOKEN")};
    }
    looked_at.push_back("environment: AWS_ACCESS_KEY_ID unset");
  } else {
    looked_at.push_back(
        fmt::format("environment: skipped for the explicit profile {}", Quote(options.profile)));
  }

  const std::string profile = ProfileName(options, env);
  std::optional<Credentials> found;
  DEPOT_ASSIGN_OR_RETURN(AwsFile credentials_file,
                         LoadAwsFile(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials"));
  DEPOT_RETURN_IF_ERROR(CredentialsFromFile(credentials_file, profile, found, looked_at));
  if (found) return *std::move(found);
  DEPOT_ASSIGN_OR_RETURN(AwsFile config_file, LoadAwsFile(env, "AWS_CONFIG_FILE", "config"));
  DEPOT_RETURN_IF_ERROR(
      CredentialsFromFile(config_file, ConfigSectionName(profile), found, looked_at));
  if (found) return *std::move(found);

  std::string places;
  for (const std::string& place : looked_at) {
    if (!places.empty()) places += "; ";
    places += place;
  }
  return UnauthenticatedError(
      fmt::format("no S3 credentials found for profile {} (looked at {})", Quote(profile), places));
}

Result<std::string> ResolveRegion(const CredentialOptions& options, const Environment& env) {
  if (!options.region.empty()) return options.region;
  for (const char* variable : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    std::string region = Get(env, variable);
    if (!region.empty()) return region;
  }
  DEPOT_ASSIGN_OR_RETURN(AwsFile config_file, LoadAwsFile(env, "AWS_CONFIG_FILE", "config"));
  if (config_file.sections) {
    auto section = config_file.sections->find(ConfigSectionName(ProfileName(options, env)));
    if (section != config_file.sections->end()) {
      auto region = section->second.find("region");
      if (region != section->second.end() && !region->second.empty()) return region->second;
    }
  }
  return std::string(kDefaultRegion);
}

}  // namespace depot::s3
