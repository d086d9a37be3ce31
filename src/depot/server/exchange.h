// depot::server::Exchange: one S3 request and its answer on a server connection (internal to
// depot serve; see s3_server.h for the protocol and the limits).
//
// The connection reads the request's header and builds an Exchange; once the request is verified
// (Authenticate), an operation reads the body through ReadBody or ReadAll (which decode
// aws-chunked, and check the signed x-amz-content-sha256, Content-MD5 and any x-amz-checksum-*
// header before they return OK) and answers with exactly one of Reply, Fail or SendObject. Each
// returns whether the connection may carry another request. outcome() is what the request log
// records.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/bytes.h"
#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/object/store.h"
#include "depot/s3/sigv4_verifier.h"
#include "depot/server/byte_stream.h"

namespace depot::server {

namespace http = boost::beast::http;
using Request = http::request_parser<http::buffer_body>;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// An S3 error to answer with.
struct S3Error {
  int status = 500;
  std::string code = "InternalError";
  std::string message;
};

// The S3 error for a depot Status. Messages of the form "Code: detail" (the verifier's, the
// decoder's, and the server's own) carry S3's code; other codes map by StatusCode.
S3Error FromStatus(const Status& status, std::string_view not_found_code = "NoSuchKey");

// A request's bucket, key and decoded query (the last of a repeated name wins): path-style
// ("/BUCKET/KEY"), or virtual-hosted when the Host is "BUCKET.<domain>[:port]" ("/KEY").
struct Target {
  std::string bucket;
  std::string key;
  std::map<std::string, std::string, std::less<>> query;
};
Result<Target> SplitTarget(const s3::RequestTarget& target, std::string_view host,
                           std::string_view domain);

// What the request log records of one request.
struct Outcome {
  int status = 0;
  std::string error_code;
  uint64_t bytes_in = 0;   // body bytes received (decoded)
  uint64_t bytes_out = 0;  // body bytes sent
};

class Exchange {
 public:
  // `activity(true)` is called before each blocking socket read or write, `activity(false)` after
  // it and after each piece of progress: the connection's clock for stall timeouts. `ctx` is the
  // request's: every store call made for it runs under it (the server's stop cancels it).
  Exchange(ByteStream& stream, boost::beast::flat_buffer& buffer, Request& parser,
           std::function<void(bool)> activity, std::string request_id, Context ctx);

  const http::request<http::buffer_body>& request() const { return parser_.get(); }
  bool keep_alive() const { return parser_.get().keep_alive(); }
  // The header's value, or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
  const std::string& request_id() const { return request_id_; }
  // The client's address ("" when unknown) and whether the request came over TLS: what bucket
  // policies' aws:SourceIp and aws:SecureTransport test.
  void SetPeer(std::string address, bool secure) {
    peer_address_ = std::move(address);
    secure_ = secure;
  }
  const std::string& peer_address() const { return peer_address_; }
  bool secure() const { return secure_; }
  const Context& context() const { return ctx_; }
  // The body length the client declared (decoded, for aws-chunked), or nullopt.
  std::optional<uint64_t> DeclaredLength() const;

  void Authenticate(s3::Authenticated who, Target target);
  const s3::Authenticated& who() const { return who_; }
  const Target& target() const { return target_; }
  // The query parameter's value ("" when absent).
  std::string Query(std::string_view name) const;
  bool HasQuery(std::string_view name) const { return target_.query.contains(name); }

  // Whether x-amz-checksum-* headers describe the body being read (PutObject, UploadPart,
  // DeleteObjects) or something else (CompleteMultipartUpload's whole-object checksum).
  enum class Checksums { kOfBody, kNotOfBody };
  // Reads the body (any size) into `sink` as it arrives, checking it as the header says. A
  // `sink` error stops the checks but the body is still drained, so the connection lives on.
  Status ReadBody(Checksums checksums, const std::function<Status(std::string_view)>& sink);
  // The whole body, refused (EntityTooLarge) above `limit` bytes.
  Result<std::string> ReadAll(Checksums checksums, uint64_t limit);
  // The x-amz-checksum-* (a header's, or the trailer's) that ReadBody verified the body against,
  // empty when the body carried none.
  const object::Checksum& body_checksum() const { return body_checksum_; }

  // Answers with `status`, an XML document (none when empty) and extra headers.
  bool Reply(int status, std::string xml, const HeaderList& headers = {});
  bool Fail(const S3Error& error);
  // Answers with `status` and `body` as it is (not S3: the node endpoint's answers).
  bool ReplyBytes(int status, std::string body, std::string_view content_type);
  // Streams an object: StartObject sends `response`'s status and headers for a body of `length`
  // bytes (none for HEAD; up to 64 KiB, they wait to go out with the first piece), WriteObject
  // sends the body in pieces, FinishObject ends it. A write
  // error is kUnavailable; once the status line is out, closing is all a server can do about a
  // failure, so FinishObject is false (close) unless exactly `length` bytes went out.
  Status StartObject(http::response<http::buffer_body>& response, uint64_t length);
  Status WriteObject(std::string_view piece);
  bool FinishObject();
  // Whether nothing of a started object has gone out (its headers wait for a small body): a
  // failure then can still be answered with Fail instead of a closed connection.
  bool ObjectUnsent() { return !serializer_ || !serializer_->is_header_done(); }

  Outcome& outcome() { return outcome_; }
  // Headers every answer to this request carries, whichever it is (CORS headers).
  void AddAnswerHeaders(const HeaderList& headers) {
    answer_headers_.insert(answer_headers_.end(), headers.begin(), headers.end());
  }

 private:
  bool Send(http::response<http::string_body>& response);
  void DrainSmallBody();
  // Whether the connection may stay open after an answer (not if the body was left unread).
  bool Reusable() const { return keep_alive() && parser_.is_done(); }

  ByteStream& stream_;
  boost::beast::flat_buffer& buffer_;
  Request& parser_;
  std::function<void(bool)> activity_;
  std::string request_id_;
  std::string peer_address_;
  bool secure_ = false;
  const Context ctx_;
  s3::Authenticated who_;
  Target target_;
  Outcome outcome_;
  HeaderList answer_headers_;
  object::Checksum body_checksum_;
  // The object being streamed (StartObject .. FinishObject).
  std::optional<http::response_serializer<http::buffer_body>> serializer_;
  http::response<http::buffer_body>* object_response_ = nullptr;
  uint64_t object_left_ = 0;
};

}  // namespace depot::server
