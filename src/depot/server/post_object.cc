// POST Object (see operations.h): browser uploads through an HTML form and a signed policy.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "depot/core/ascii.h"
#include "depot/core/url.h"
#include "depot/object/key.h"
#include "depot/s3/post_policy.h"
#include "depot/s3/xml.h"
#include "depot/server/cors.h"
#include "depot/server/form_data.h"
#include "depot/server/operations.h"
#include "depot/server/sse.h"

namespace depot::server {
namespace {

// The object's content type, headers and user metadata, from the form's fields (the file part's
// own Content-Type when the form names none).
object::PutOptions PutOptionsOf(const s3::PostFields& fields, std::string_view part_type) {
  object::PutOptions put;
  auto field = [&](const std::string& name) -> const std::string* {
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  };
  put.content_type = field("content-type") ? *field("content-type") : std::string(part_type);
  for (const auto& [header, member] : object::kObjectHeaderFields) {
    if (const std::string* value = field(AsciiLower(header))) put.headers.*member = *value;
  }
  for (const auto& [name, value] : fields) {
    if (name.starts_with("x-amz-meta-")) put.user_metadata[name.substr(11)] = value;
  }
  return put;
}

// The answer S3 gives a successful POST: a redirect, or the status the form asked for.
bool Answer(Exchange& exchange, const s3::PostFields& fields, const std::string& key,
            const std::string& etag) {
  const std::string& bucket = exchange.target().bucket;
  const std::string quoted = fmt::format("\"{}\"", etag);
  auto field = [&](const char* name) {
    auto it = fields.find(name);
    return it == fields.end() ? std::string() : it->second;
  };
  std::string redirect = field("success_action_redirect");
  if (redirect.empty()) redirect = field("redirect");
  if (!redirect.empty()) {
    const char separator = redirect.find('?') == std::string::npos ? '?' : '&';
    return exchange.Reply(
        303, "",
        {{"Location", fmt::format("{}{}bucket={}&key={}&etag={}", redirect, separator,
                                  PercentEncode(bucket, ""), PercentEncode(key, ""),
                                  PercentEncode(quoted, ""))},
         {"ETag", quoted}});
  }
  const std::string status = field("success_action_status");
  const std::string location = fmt::format("/{}/{}", bucket, PercentEncode(key, "/"));
  if (status == "201") {
    return exchange.Reply(
        201,
        fmt::format("<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key>"
                    "<ETag>{}</ETag></PostResponse>",
                    s3::XmlEscape(location), s3::XmlEscape(bucket), s3::XmlEscape(key),
                    s3::XmlEscape(quoted)),
        {{"ETag", quoted}, {"Location", location}});
  }
  return exchange.Reply(status == "200" ? 200 : 204, "",
                        {{"ETag", quoted}, {"Location", location}});
}

}  // namespace

bool PostObject(Exchange& exchange, object::ObjectStore& store, const AccessControl& access,
                const s3::SecretLookup& secrets, const OperationLimits& limits) {
  const std::string boundary =
      FormDataReader::BoundaryOf(exchange.Header("content-type").value_or(""));
  if (boundary.empty()) {
    return exchange.Fail({412, "PreconditionFailed",
                          "Bucket POST must be of the enclosure-type multipart/form-data"});
  }
  const std::string bucket = exchange.target().bucket;
  AddCorsHeaders(exchange, access);
  std::string key;
  s3::PostGrant grant;
  std::unique_ptr<object::ObjectWriter> writer;
  std::optional<BudgetHold> hold;
  std::optional<AuthorizedStore> authorized;  // outlives the writer it opened
  std::optional<Landing> landing;
  s3::PostFields fields;
  uint64_t received = 0;
  FormDataReader reader(
      boundary,
      [&](std::string_view filename, std::string_view part_type) -> Status {
        fields = reader.fields();
        DEPOT_ASSIGN_OR_RETURN(grant, s3::VerifyPostForm(fields, bucket, filename, secrets,
                                                         std::chrono::system_clock::now()));
        // As PolicyRequestOf would see it, for the form's signer, key and ACL.
        PolicyRequest request = PolicyRequestOf(exchange, access);
        request.user = grant.access_key;
        request.principal_id = access.NameOf(grant.access_key).id;
        request.action = "s3:PutObject";
        request.resource = fmt::format("arn:aws:s3:::{}/{}", bucket, grant.key);
        request.context["aws:principaltype"] = {"User"};
        request.context["aws:username"] = {grant.access_key};
        request.context["aws:userid"] = {request.principal_id};
        if (auto acl = fields.find("acl"); acl != fields.end()) {
          request.context["s3:x-amz-acl"] = {acl->second};
        }
        DEPOT_ASSIGN_OR_RETURN(BucketInfo info,
                               access.Authorize(grant.access_key, bucket, Permission::kWrite,
                                                std::nullopt, exchange.context(), &request));
        const bool encrypted = std::any_of(fields.begin(), fields.end(), [](const auto& field) {
          return field.first.starts_with("x-amz-server-side-encryption") ||
                 field.first == fmt::format("x-amz-meta-{}", kSealingField);
        });
        if (encrypted || !info.default_encryption.empty()) {
          return UnimplementedError(
              "NotImplemented: encrypted POST uploads (asked for, or by the bucket's default "
              "encryption) are not served yet");
        }
        DEPOT_RETURN_IF_ERROR(object::ValidateKey(grant.key));
        std::vector<s3::Header> acl_headers;
        if (auto acl = fields.find("acl"); acl != fields.end()) {
          acl_headers.emplace_back("x-amz-acl", acl->second);
        }
        std::vector<s3::Tag> tags;
        if (auto tagging = fields.find("tagging"); tagging != fields.end()) {
          DEPOT_ASSIGN_OR_RETURN(tags, s3::ParseTagging(tagging->second, kMaxObjectTags));
        }
        DEPOT_ASSIGN_OR_RETURN(landing, LandingOf(exchange, access, info, grant.key,
                                                  grant.access_key, acl_headers, tags, {}, false));
        key = grant.key;
        object::WriteOptions options;
        options.put = PutOptionsOf(fields, part_type);
        authorized.emplace(store, access, grant.access_key, bucket, Permission::kWrite,
                           std::move(request));
        DEPOT_ASSIGN_OR_RETURN(
            writer, OpenStreamedWriter(*authorized, landing->store_key, std::move(options), limits,
                                       hold, exchange.context()));
        return Status::Ok();
      },
      [&](std::string_view bytes) -> Status {
        received += bytes.size();
        if (received > grant.max_length || received > limits.max_object_bytes) {
          return InvalidArgumentError(fmt::format(
              "EntityTooLarge: the file is larger than the policy's content-length-range or the "
              "server's limit ({} bytes)",
              std::min(grant.max_length, limits.max_object_bytes)));
        }
        return writer->Write(bytes);
      });
  Status read = exchange.ReadBody(Exchange::Checksums::kNotOfBody,
                                  [&](std::string_view piece) { return reader.Feed(piece); });
  if (read.ok()) read = reader.Finish();
  if (read.ok() && !reader.saw_file()) {
    read = InvalidArgumentError(
        "InvalidArgument: POST requires exactly one file upload per request (no field \"file\")");
  }
  if (read.ok() && received < grant.min_length) {
    read = InvalidArgumentError(
        fmt::format("EntityTooSmall: the file's {} bytes are fewer than the policy's minimum of {}",
                    received, grant.min_length));
  }
  if (!read.ok()) {
    if (writer != nullptr) (void)writer->Abort();
    return exchange.Fail(FromStatus(read));
  }
  auto done = writer->Finish();
  if (!done.ok()) return exchange.Fail(FromStatus(done.status()));
  auto version = Landed(*authorized, exchange, *landing);
  if (!version.ok()) return exchange.Fail(FromStatus(version.status()));
  exchange.AddAnswerHeaders(*version);
  return Answer(exchange, fields, key, done->etag);
}

}  // namespace depot::server
