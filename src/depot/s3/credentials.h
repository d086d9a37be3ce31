// depot::s3 credentials and region: where an S3 client finds them, in the order every AWS
// tool uses.
//
// ResolveCredentials looks, in order, at: the explicit values (from the store URL's options);
// the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); the shared
// credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) and then the config file
// (AWS_CONFIG_FILE, else ~/.aws/config), both for the profile named explicitly, else AWS_PROFILE,
// else "default" (in the config file a profile's section is "[profile NAME]", except
// "[default]"). The first source that has an access key wins, whole: keys are never mixed across
// sources. As in the AWS CLI, a profile named explicitly (options.profile, not AWS_PROFILE) skips
// the environment's keys: asking for a profile means that profile. An empty variable counts as
// unset; a leading "~" in AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE is expanded from HOME, and
// without HOME the default files are skipped. A missing file is skipped. It never contacts an
// instance-metadata service or the network.
//
// Failures: no credentials anywhere is kUnauthenticated naming the profile and the places looked
// at. kInvalidArgument for a source that has an access key without its secret (explicit options,
// environment or file section; explicit options with only a secret or a session token too), and
// for a malformed file, naming it and the line (the line's text is not echoed: it may hold a
// secret), or a file that is not a regular file or is over 1 MiB. A file that exists but cannot
// be read is the errno's status (kPermissionDenied for EACCES) naming it. Files are parsed whole,
// like the AWS CLI does: a malformed line in another profile's section fails too.
//
// ResolveRegion: explicit, AWS_REGION, AWS_DEFAULT_REGION, the profile's `region` in the config
// file, else "us-east-1". Fails only on a config file that is malformed or unreadable.
//
// The environment is read through an Environment, so tests need not touch the process's.
// Thread-safe (reads only).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "depot/core/result.h"

namespace depot::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
};

// Looks up an environment variable; nullopt when unset. HOME is looked up through it for "~".
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
// The process's environment (getenv).
Environment ProcessEnvironment();

struct CredentialOptions {
  std::string access_key_id;  // explicit: both keys or neither
  std::string secret_access_key;
  std::string session_token;
  std::string profile;  // empty: AWS_PROFILE, else "default"
  std::string region;   // explicit region
};

Result<Credentials> ResolveCredentials(const CredentialOptions& options,
                                       const Environment& env = ProcessEnvironment());
Result<std::string> ResolveRegion(const CredentialOptions& options,
                                  const Environment& env = ProcessEnvironment());

}  // namespace depot::s3
