// depot::s3::ChunkedPayloadDecoder: decodes an aws-chunked request body and checks each chunk's
// signature before releasing its bytes. Three forms, named by x-amz-content-sha256:
//
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD
//   body  := chunk* final
//   chunk := HEX-SIZE ";chunk-signature=" SIG CRLF DATA CRLF      (SIG: 64 lower-case hex)
//   final := "0;chunk-signature=" SIG CRLF CRLF
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (signed chunks, then signed trailing headers)
//   final := "0;chunk-signature=" SIG CRLF (NAME ":" VALUE CRLF)* "x-amz-trailer-signature:" SIG
//            CRLF CRLF
// STREAMING-UNSIGNED-PAYLOAD-TRAILER (what current AWS SDKs send over HTTPS: no chunk signatures)
//   chunk := HEX-SIZE CRLF DATA CRLF;  final := "0" CRLF (NAME ":" VALUE CRLF)* CRLF
// A chunk's signature is HMAC-SHA256 under the request's signing key of
//   "AWS4-HMAC-SHA256-PAYLOAD" \n amz-date \n scope \n previous-signature \n SHA256("") \n
//   SHA256(DATA)
// where the first chunk's previous signature is the request's own (the seed): the chain ties every
// chunk, in order, to the signed request, so chunks can be neither altered, dropped, reordered nor
// added. The trailer signature is HMAC-SHA256 of
//   "AWS4-HMAC-SHA256-TRAILER" \n amz-date \n scope \n last-chunk-signature \n
//   SHA256(NAME ":" VALUE \n ...)
// so the trailing headers (the checksum of the payload, x-amz-trailer names which) are signed too.
//
//   ChunkedPayloadDecoder decoder(who, decoded_length);
//   while (reading) DEPOT_RETURN_IF_ERROR(decoder.Feed(piece, payload));   // any split
//   DEPOT_RETURN_IF_ERROR(decoder.Finish());
//
// Memory: one chunk is buffered (at most `max_chunk` bytes, else kInvalidArgument). Errors carry
// S3's code first: SignatureDoesNotMatch (kUnauthenticated) for a chunk whose signature is wrong;
// IncompleteBody (kInvalidArgument) for a body that ends early or whose decoded length differs
// from x-amz-decoded-content-length; InvalidRequest (kInvalidArgument) for malformed framing. After
// an error every call returns it again. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/status.h"
#include "depot/s3/sigv4_verifier.h"

namespace depot::s3 {

inline constexpr std::string_view kStreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingPayloadTrailer =
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

// Whether `payload_hash` (x-amz-content-sha256) names one of the aws-chunked forms above.
bool IsChunkedPayload(std::string_view payload_hash);

class ChunkedPayloadDecoder {
 public:
  // `who` is the verified request (its signature, signing key, date and region, and its
  // payload_sha256 naming the form); `decoded_length` is x-amz-decoded-content-length when the
  // request sent it.
  ChunkedPayloadDecoder(const Authenticated& who, std::optional<uint64_t> decoded_length,
                        uint64_t max_chunk = uint64_t{16} << 20);

  // Decodes the next piece of the body, appending the payload of every chunk completed and
  // verified to `out`.
  Status Feed(std::string_view input, std::string& out);
  // The body has ended: OK if the final chunk was seen and the length matches.
  Status Finish();

  uint64_t decoded() const { return decoded_; }
  // The trailing headers (names lower-cased; the trailer signature left out), once Finish is OK.
  const std::vector<std::pair<std::string, std::string>>& trailers() const { return trailers_; }

 private:
  enum class State { kHeader, kData, kDataEnd, kFinalEnd, kTrailer, kDone };
  Status ParseHeader();
  Status VerifyChunk(std::string_view data);
  // One trailer line (CRLF removed); the empty line ends the body.
  Status TrailerLine(std::string_view line);
  Status Failed(Status status);

  std::string signing_key_;
  std::string scope_line_;  // "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n"
  std::string previous_;    // signature of the previous chunk (first: the request's)
  std::optional<uint64_t> decoded_length_;
  uint64_t max_chunk_;
  bool signed_chunks_;
  bool trailer_;
  std::vector<std::pair<std::string, std::string>> trailers_;
  std::string trailer_signature_;

  State state_ = State::kHeader;
  std::string pending_;  // the header line, or the chunk's data, gathered so far
  uint64_t chunk_size_ = 0;
  std::string chunk_signature_;
  uint64_t chunks_ = 0;
  uint64_t decoded_ = 0;
  Status error_;
};

}  // namespace depot::s3
