#include "depot/s3/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "depot/core/testing/status_matchers.h"

namespace depot::s3 {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

MATCHER_P3(CredentialsAre, access_key_id, secret_access_key, session_token, "") {
  *result_listener << "credentials are {" << arg.access_key_id << ", " << arg.secret_access_key
                   << ", " << arg.session_token << "}";
  return arg.access_key_id == access_key_id && arg.secret_access_key == secret_access_key &&
         arg.session_token == session_token;
}

// Each test gets a fresh directory holding a fake HOME, and a fake environment over a map.
class CredentialsTest : public ::testing::Test {
 protected:
  CredentialsTest() {
    std::string pattern = ::testing::TempDir() + "depot_credentials_XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
    home_ = dir_ + "/home";
    std::filesystem::create_directories(home_ + "/.aws");
    vars_["HOME"] = home_;
  }
  ~CredentialsTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  Environment Env() const {
    return [vars = vars_](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }

  // Writes `text` to `path` (relative to the test directory unless absolute); returns the path.
  std::string Write(const std::string& path, std::string_view text) {
    std::string full = path.starts_with("/") ? path : dir_ + "/" + path;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    std::ofstream(full, std::ios::binary) << text;
    return full;
  }
  std::string WriteCredentials(std::string_view text) {
    return Write(home_ + "/.aws/credentials", text);
  }
  std::string WriteConfig(std::string_view text) { return Write(home_ + "/.aws/config", text); }

  Result<Credentials> Resolve(const CredentialOptions& options = {}) const {
    return ResolveCredentials(options, Env());
  }

  std::string dir_;
  std::string home_;
  std::map<std::string, std::string> vars_;
};

// --- precedence ---

TEST_F(CredentialsTest, ExplicitValuesWinOverEverything) {
  vars_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  vars_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  WriteCredentials("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(
      Credentials credentials,
      Resolve({.access_key_id = "AK", .secret_access_key = "SK", .session_token = "T"}));
  EXPECT_THAT(credentials, CredentialsAre("AK", "SK", "T"));
}

TEST_F(CredentialsTest, ExplicitValuesNeedBothKeys) {
  EXPECT_THAT(Resolve({.access_key_id = "AK"}),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("both an access key id and a secret access key"),
                             HasSubstr("access key id \"AK\", no secret"))));
  EXPECT_THAT(Resolve({.secret_access_key = "SK"}),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("access key id \"\", a secret"), Not(HasSubstr("SK")))));
  EXPECT_THAT(Resolve({.session_token = "T"}), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(CredentialsTest, EnvironmentWinsOverFilesAndBringsItsToken) {
  vars_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  vars_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  vars_["AWS_SESSION_TOKEN"] = "envtoken";
  WriteCredentials("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_THAT(credentials, CredentialsAre("ENVKEY", "envsecret", "envtoken"));
}

TEST_F(CredentialsTest, EnvironmentKeyWithoutSecretIsAnError) {
  vars_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  WriteCredentials("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n");
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument,
                                  AllOf(HasSubstr("AWS_ACCESS_KEY_ID is set (\"ENVKEY\")"),
                                        HasSubstr("AWS_SECRET_ACCESS_KEY is not"))));
}

TEST_F(CredentialsTest, EnvironmentSecretWithoutKeyIsSkippedNotMixed) {
  vars_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  vars_["AWS_SESSION_TOKEN"] = "envtoken";
  WriteCredentials("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_THAT(credentials, CredentialsAre("FILEKEY", "filesecret", ""));
}

TEST_F(CredentialsTest, EmptyVariablesCountAsUnset) {
  vars_["AWS_ACCESS_KEY_ID"] = "";
  vars_["AWS_SECRET_ACCESS_KEY"] = "";
  vars_["AWS_PROFILE"] = "";
  vars_["AWS_SHARED_CREDENTIALS_FILE"] = "";
  WriteCredentials("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_THAT(credentials, CredentialsAre("FILEKEY", "filesecret", ""));
}

TEST_F(CredentialsTest, CredentialsFileDefaultProfileUnderHome) {
  WriteCredentials(
      "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n"
      "aws_session_token = filetoken\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_THAT(credentials, CredentialsAre("FILEKEY", "filesecret", "filetoken"));
}

TEST_F(CredentialsTest, SharedCredentialsFileVariableReplacesTheDefaultPath) {
  WriteCredentials("[default]\naws_access_key_id = HOMEKEY\naws_secret_access_key = s\n");
  vars_["AWS_SHARED_CREDENTIALS_FILE"] = Write(
      "elsewhere/creds", "[default]\naws_access_key_id = VARKEY\naws_secret_access_key = s\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_EQ(credentials.access_key_id, "VARKEY");

  // A leading "~" is HOME.
  Write(home_ + "/other/creds",
        "[default]\naws_access_key_id = TILDEKEY\naws_secret_access_key = s\n");
  vars_["AWS_SHARED_CREDENTIALS_FILE"] = "~/other/creds";
  DEPOT_ASSERT_OK_AND_ASSIGN(credentials, Resolve());
  EXPECT_EQ(credentials.access_key_id, "TILDEKEY");
}

TEST_F(CredentialsTest, ProfileComesFromOptionsThenAwsProfileThenDefault) {
  WriteCredentials(
      "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = s\n"
      "[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = s\n"
      "[prod]\naws_access_key_id = PRODKEY\naws_secret_access_key = s\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_EQ(credentials.access_key_id, "DEFAULTKEY");
  vars_["AWS_PROFILE"] = "dev";
  DEPOT_ASSERT_OK_AND_ASSIGN(credentials, Resolve());
  EXPECT_EQ(credentials.access_key_id, "DEVKEY");
  DEPOT_ASSERT_OK_AND_ASSIGN(credentials, Resolve({.profile = "prod"}));
  EXPECT_EQ(credentials.access_key_id, "PRODKEY");
}

TEST_F(CredentialsTest, ExplicitProfileSkipsTheEnvironmentButAwsProfileDoesNot) {
  vars_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  vars_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  WriteCredentials("[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = s\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve({.profile = "dev"}));
  EXPECT_EQ(credentials.access_key_id, "DEVKEY");
  vars_["AWS_PROFILE"] = "dev";
  DEPOT_ASSERT_OK_AND_ASSIGN(credentials, Resolve());
  EXPECT_EQ(credentials.access_key_id, "ENVKEY");
  // Skipped means skipped: an explicit profile that has no keys does not fall back to them.
  EXPECT_THAT(Resolve({.profile = "other"}),
              StatusIs(StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("profile \"other\""),
                             HasSubstr("environment: skipped for the explicit profile"))));
}

TEST_F(CredentialsTest, ConfigFileIsUsedWhenTheCredentialsFileHasNoKey) {
  WriteCredentials("[dev]\nregion = eu-west-1\n");
  WriteConfig(
      "[profile dev]\naws_access_key_id = CONFIGKEY\naws_secret_access_key = configsecret\n"
      "aws_session_token = configtoken\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve({.profile = "dev"}));
  EXPECT_THAT(credentials, CredentialsAre("CONFIGKEY", "configsecret", "configtoken"));
}

TEST_F(CredentialsTest, CredentialsFileWinsWholeOverConfigFile) {
  WriteCredentials("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n");
  WriteConfig(
      "[default]\naws_access_key_id = CONFIGKEY\naws_secret_access_key = configsecret\n"
      "aws_session_token = configtoken\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_THAT(credentials, CredentialsAre("FILEKEY", "filesecret", ""));
}

TEST_F(CredentialsTest, ConfigFileVariableReplacesTheDefaultPath) {
  WriteConfig("[default]\naws_access_key_id = HOMEKEY\naws_secret_access_key = s\n");
  vars_["AWS_CONFIG_FILE"] =
      Write("cfg", "[default]\naws_access_key_id = VARKEY\naws_secret_access_key = s\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_EQ(credentials.access_key_id, "VARKEY");
}

TEST_F(CredentialsTest, SectionNamesDifferBetweenTheTwoFiles) {
  // The credentials file names profiles bare; "[profile dev]" there is another profile.
  WriteCredentials("[profile dev]\naws_access_key_id = WRONG1\naws_secret_access_key = s\n");
  // The config file names them "[profile dev]"; a bare "[dev]" there is not the profile.
  WriteConfig(
      "[dev]\naws_access_key_id = WRONG2\naws_secret_access_key = s\n"
      "[profile    dev ]\naws_access_key_id = RIGHT\naws_secret_access_key = s\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve({.profile = "dev"}));
  EXPECT_EQ(credentials.access_key_id, "RIGHT");

  // ... except the default profile, which is "[default]" in both.
  WriteConfig(
      "[profile default]\naws_access_key_id = WRONG3\naws_secret_access_key = s\n"
      "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = s\n");
  WriteCredentials("");
  DEPOT_ASSERT_OK_AND_ASSIGN(credentials, Resolve());
  EXPECT_EQ(credentials.access_key_id, "DEFAULTKEY");
}

TEST_F(CredentialsTest, FileKeyWithoutSecretIsAnErrorNamingFileAndSection) {
  std::string path = WriteCredentials("[dev]\naws_access_key_id = DEVKEY\n");
  WriteConfig("[profile dev]\naws_access_key_id = CONFIGKEY\naws_secret_access_key = s\n");
  EXPECT_THAT(
      Resolve({.profile = "dev"}),
      StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("\"" + path + "\" [dev]"),
                                                   HasSubstr("aws_access_key_id \"DEVKEY\" without "
                                                             "aws_secret_access_key"))));
}

TEST_F(CredentialsTest, NothingFoundNamesEveryPlaceLookedAt) {
  WriteConfig("[profile dev]\nregion = eu-west-1\n");
  EXPECT_THAT(Resolve({.profile = "dev"}),
              StatusIs(StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("no S3 credentials found for profile \"dev\""),
                             HasSubstr("explicit options: none"),
                             HasSubstr(home_ + "/.aws/credentials: no such file"),
                             HasSubstr(home_ + "/.aws/config: [profile dev] has no "
                                               "aws_access_key_id"))));
  WriteCredentials("[other]\n");
  EXPECT_THAT(Resolve(),
              StatusIs(StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("profile \"default\""),
                             HasSubstr("environment: AWS_ACCESS_KEY_ID unset"),
                             HasSubstr(home_ + "/.aws/credentials: no [default] section"),
                             HasSubstr(home_ + "/.aws/config: no [default] section"))));
}

TEST_F(CredentialsTest, WithoutHomeTheDefaultFilesAreSkipped) {
  WriteCredentials("[default]\naws_access_key_id = HOMEKEY\naws_secret_access_key = s\n");
  vars_.erase("HOME");
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kUnauthenticated,
                                  AllOf(HasSubstr("~/.aws/credentials (HOME unset): no such file"),
                                        HasSubstr("~/.aws/config (HOME unset): no such file"))));
}

// --- the file format ---

TEST_F(CredentialsTest, ParsesTheFileFormatTheAwsCliAccepts) {
  WriteCredentials(
      "\xEF\xBB\xBF# a comment\r\n"
      "; another comment\r\n"
      "   # an indented comment\r\n"
      "\r\n"
      "[ dev ]\r\n"
      "AWS_ACCESS_KEY_ID=DEVKEY\r\n"
      "aws_secret_access_key \t :   dev/secret+with=signs#not-a-comment \t\r\n"
      "s3 =\r\n"
      "    addressing_style = path\r\n"
      "    aws_session_token = NESTED-NOT-A-TOKEN\r\n"
      "\r\n"
      "        max_concurrent_requests = 20\r\n"
      "[default]\n"
      "aws_access_key_id = DEFAULTKEY\n"
      "aws_secret_access_key = s\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve({.profile = "dev"}));
  EXPECT_THAT(credentials, CredentialsAre("DEVKEY", "dev/secret+with=signs#not-a-comment", ""));
  DEPOT_ASSERT_OK_AND_ASSIGN(credentials, Resolve());
  EXPECT_EQ(credentials.access_key_id, "DEFAULTKEY");
}

TEST_F(CredentialsTest, NestedSectionEndsAtTheNextLineAsIndentedAsItsKey) {
  WriteConfig(
      "[default]\n"
      "  s3 =\n"
      "      addressing_style = virtual\n"
      "  aws_access_key_id = KEY\n"
      "  aws_secret_access_key = s\n");
  DEPOT_ASSERT_OK_AND_ASSIGN(Credentials credentials, Resolve());
  EXPECT_THAT(credentials, CredentialsAre("KEY", "s", ""));
}

TEST_F(CredentialsTest, MalformedFilesNameTheFileAndTheLineButNotItsText) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"[default]\naws_access_key_id = K\nwJalrXUtnFEMI/K7MDENG\n",
       "line 3: expected \"key = value\", a [section] header or a comment"},
      {"aws_access_key_id = K\n[default]\n", "line 1: key \"aws_access_key_id\" before any"},
      {"# c\n[default\n", "line 2: section header without a closing ']'"},
      {"[ ]\n", "line 1: empty section name"},
      {"[default]\n = value\n", "line 2: empty key"},
      {"[a]\nx = 1\n[b]\n[a]\n", "line 4: section [a] repeated (first at line 1)"},
      {"[a]\nx = 1\nX = 2\n", "line 3: key \"x\" repeated in [a]"},
      // A malformed line in another profile's section fails too, as in the AWS CLI.
      {"[default]\naws_access_key_id = K\naws_secret_access_key = S\n[other]\nbroken\n", "line 5:"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    std::string path = WriteCredentials(c.text);
    auto result = Resolve();
    EXPECT_THAT(result, StatusIs(StatusCode::kInvalidArgument,
                                 AllOf(HasSubstr("AWS file \"" + path + "\" " + c.message),
                                       Not(HasSubstr("wJalrXUtnFEMI")), Not(HasSubstr("broken")))));
  }
}

TEST_F(CredentialsTest, RefusesFilesThatAreNotRegularOrTooLarge) {
  vars_["AWS_SHARED_CREDENTIALS_FILE"] = dir_;
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument,
                                  HasSubstr("\"" + dir_ + "\" is not a regular file")));

  // A FIFO is refused at once rather than waited on.
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  vars_["AWS_SHARED_CREDENTIALS_FILE"] = fifo;
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a regular file")));

  vars_["AWS_SHARED_CREDENTIALS_FILE"] = Write("big", std::string((1 << 20) + 1, '#'));
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("larger than")));
}

TEST_F(CredentialsTest, AFileThatCannotBeReadIsAnError) {
  std::string path = WriteCredentials("[default]\n");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  if (::geteuid() != 0) {
    EXPECT_THAT(Resolve(), StatusIs(StatusCode::kPermissionDenied, HasSubstr(path)));
    return;
  }
  // Permissions do not stop root: the same read, in a child that drops to nobody (65534).
  EXPECT_EXIT(
      {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) std::_Exit(2);
        auto resolved = Resolve();
        const bool denied = resolved.status().code() == StatusCode::kPermissionDenied &&
                            resolved.status().message().find(path) != std::string::npos;
        std::_Exit(denied ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(CredentialsTest, AMissingFileBelowAFileIsSkipped) {
  // ENOTDIR: the "directory" on the way is a file.
  vars_["AWS_SHARED_CREDENTIALS_FILE"] = Write("plain", "") + "/credentials";
  EXPECT_THAT(Resolve(), StatusIs(StatusCode::kUnauthenticated, HasSubstr("no such file")));
}

// --- region ---

TEST_F(CredentialsTest, RegionPrecedence) {
  EXPECT_EQ(ResolveRegion({}, Env()).value(), "us-east-1");
  WriteCredentials("[default]\nregion = from-credentials-file\n");
  EXPECT_EQ(ResolveRegion({}, Env()).value(), "us-east-1");
  WriteConfig("[default]\nregion = eu-west-1\n[profile dev]\nregion = ap-south-1\n");
  EXPECT_EQ(ResolveRegion({}, Env()).value(), "eu-west-1");
  EXPECT_EQ(ResolveRegion({.profile = "dev"}, Env()).value(), "ap-south-1");
  vars_["AWS_PROFILE"] = "dev";
  EXPECT_EQ(ResolveRegion({}, Env()).value(), "ap-south-1");
  vars_["AWS_DEFAULT_REGION"] = "us-west-2";
  EXPECT_EQ(ResolveRegion({}, Env()).value(), "us-west-2");
  vars_["AWS_REGION"] = "ca-central-1";
  EXPECT_EQ(ResolveRegion({}, Env()).value(), "ca-central-1");
  EXPECT_EQ(ResolveRegion({.region = "sa-east-1"}, Env()).value(), "sa-east-1");
}

TEST_F(CredentialsTest, RegionFallsBackWhenTheProfileHasNone) {
  WriteConfig("[default]\nregion =\n[profile dev]\noutput = json\n");
  EXPECT_EQ(ResolveRegion({}, Env()).value(), "us-east-1");
  EXPECT_EQ(ResolveRegion({.profile = "dev"}, Env()).value(), "us-east-1");
  vars_["AWS_CONFIG_FILE"] = dir_ + "/missing";
  EXPECT_EQ(ResolveRegion({}, Env()).value(), "us-east-1");
}

TEST_F(CredentialsTest, RegionFailsOnAMalformedConfigFile) {
  std::string path = WriteConfig("[default]\nregion eu-west-1\n");
  EXPECT_THAT(ResolveRegion({}, Env()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"" + path + "\" line 2")));
  // An explicit or environment region does not need the file.
  EXPECT_THAT(ResolveRegion({.region = "eu-west-1"}, Env()), IsOk());
}

TEST(ProcessEnvironmentTest, ReadsTheProcessEnvironment) {
  Environment env = ProcessEnvironment();
  EXPECT_EQ(env("DEPOT_CREDENTIALS_TEST_SURELY_UNSET_VARIABLE"), std::nullopt);
  const char* path = std::getenv("PATH");
  ASSERT_NE(path, nullptr);
  EXPECT_EQ(env("PATH"), std::optional<std::string>(path));
}

}  // namespace
}  // namespace depot::s3
