#include "depot/s3/chunked_payload.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "depot/s3/signer.h"

namespace depot::s3 {
namespace {

constexpr std::string_view kSignatureField = ";chunk-signature=";
constexpr size_t kMaxHeaderLine = 16 + kSignatureField.size() + 64 + 2;

Status Framing(std::string_view detail) {
  return InvalidArgumentError(fmt::format("InvalidRequest: aws-chunked body: {}", detail));
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

constexpr size_t kMaxTrailers = 16 << 10;

}  // namespace

bool IsChunkedPayload(std::string_view payload_hash) {
  return payload_hash == kStreamingPayload || payload_hash == kStreamingPayloadTrailer ||
         payload_hash == kStreamingUnsignedTrailer;
}

ChunkedPayloadDecoder::ChunkedPayloadDecoder(const Authenticated& who,
                                             std::optional<uint64_t> decoded_length,
                                             uint64_t max_chunk)
    : signing_key_(who.signing_key),
      scope_line_(
          fmt::format("AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n", who.amz_date,
                      s3::CredentialScope(who.amz_date, {.region = who.region, .service = "s3"}))),
      previous_(who.signature),
      decoded_length_(decoded_length),
      max_chunk_(max_chunk),
      signed_chunks_(who.payload_sha256 != kStreamingUnsignedTrailer),
      trailer_(who.payload_sha256 != kStreamingPayload) {}

Status ChunkedPayloadDecoder::Failed(Status status) {
  if (error_.ok()) error_ = std::move(status);
  return error_;
}

Status ChunkedPayloadDecoder::ParseHeader() {
  // pending_ holds "HEX;chunk-signature=SIG", or "HEX" for unsigned chunks (CRLF removed).
  const size_t field = signed_chunks_ ? pending_.find(kSignatureField) : pending_.size();
  if (field == std::string::npos || field == 0) {
    return Framing(fmt::format("chunk {} header \"{}\" has no size and chunk-signature",
                               chunks_ + 1, pending_));
  }
  uint64_t size = 0;
  auto [end, ec] = std::from_chars(pending_.data(), pending_.data() + field, size, 16);
  if (ec != std::errc() || end != pending_.data() + field) {
    return Framing(fmt::format("chunk {} size \"{}\" is not hexadecimal", chunks_ + 1,
                               pending_.substr(0, field)));
  }
  chunk_signature_ = signed_chunks_ ? pending_.substr(field + kSignatureField.size()) : "";
  if (signed_chunks_ && (chunk_signature_.size() != 64 || !IsLowerHex(chunk_signature_))) {
    return Framing(fmt::format("chunk {} signature \"{}\" is not 64 hex digits", chunks_ + 1,
                               chunk_signature_));
  }
  if (size > max_chunk_) {
    return Framing(fmt::format("chunk {} of {} bytes is larger than the {} allowed", chunks_ + 1,
                               size, max_chunk_));
  }
  if (decoded_length_ && decoded_ + size > *decoded_length_) {
    return InvalidArgumentError(
        fmt::format("IncompleteBody: chunks carry more than x-amz-decoded-content-length {} bytes",
                    *decoded_length_));
  }
  chunk_size_ = size;
  pending_.clear();
  return Status::Ok();
}

Status ChunkedPayloadDecoder::VerifyChunk(std::string_view data) {
  if (!signed_chunks_) {
    ++chunks_;
    return Status::Ok();
  }
  const std::string string_to_sign = fmt::format("{}{}\n{}\n{}", scope_line_, previous_,
                                                 s3::kEmptyPayloadSha256, s3::Sha256Hex(data));
  const std::string expected = s3::HmacSha256Hex(signing_key_, string_to_sign);
  ++chunks_;
  if (!ConstantTimeEqual(expected, chunk_signature_)) {
    return UnauthenticatedError(
        fmt::format("SignatureDoesNotMatch: chunk {} ({} bytes) is not signed by the request's key",
                    chunks_, data.size()));
  }
  previous_ = chunk_signature_;
  return Status::Ok();
}

Status ChunkedPayloadDecoder::Feed(std::string_view input, std::string& out) {
  if (!error_.ok()) return error_;
  while (!input.empty()) {
    switch (state_) {
      case State::kHeader: {
        const size_t newline = input.find('\n');
        pending_.append(input.substr(0, newline));
        if (pending_.size() > kMaxHeaderLine) {
          return Failed(Framing(
              fmt::format("chunk {} header is longer than {} bytes", chunks_ + 1, kMaxHeaderLine)));
        }
        if (newline == std::string_view::npos) return Status::Ok();
        input.remove_prefix(newline + 1);
        if (pending_.empty() || pending_.back() != '\r') {
          return Failed(Framing(fmt::format("chunk {} header does not end in CRLF", chunks_ + 1)));
        }
        pending_.pop_back();
        if (Status parsed = ParseHeader(); !parsed.ok()) return Failed(parsed);
        state_ = chunk_size_ == 0 ? (trailer_ ? State::kTrailer : State::kFinalEnd) : State::kData;
        if (chunk_size_ == 0) {
          if (Status verified = VerifyChunk(""); !verified.ok()) return Failed(verified);
        }
        break;
      }
      case State::kData: {
        const size_t take = std::min<uint64_t>(input.size(), chunk_size_ - pending_.size());
        pending_.append(input.substr(0, take));
        input.remove_prefix(take);
        if (pending_.size() < chunk_size_) return Status::Ok();
        if (Status verified = VerifyChunk(pending_); !verified.ok()) return Failed(verified);
        out.append(pending_);
        decoded_ += pending_.size();
        pending_.clear();
        state_ = State::kDataEnd;
        break;
      }
      case State::kDataEnd:
      case State::kFinalEnd: {
        const size_t take = std::min<size_t>(input.size(), 2 - pending_.size());
        pending_.append(input.substr(0, take));
        input.remove_prefix(take);
        if (pending_.size() < 2) return Status::Ok();
        if (pending_ != "\r\n") {
          return Failed(Framing(fmt::format("chunk {} is not followed by CRLF", chunks_)));
        }
        pending_.clear();
        state_ = state_ == State::kFinalEnd ? State::kDone : State::kHeader;
        break;
      }
      case State::kTrailer: {
        const size_t newline = input.find('\n');
        pending_.append(input.substr(0, newline));
        if (pending_.size() > kMaxTrailers) return Failed(Framing("the trailer is too long"));
        if (newline == std::string_view::npos) return Status::Ok();
        input.remove_prefix(newline + 1);
        if (pending_.empty() || pending_.back() != '\r') {
          return Failed(Framing("a trailer line does not end in CRLF"));
        }
        pending_.pop_back();
        const std::string line = std::move(pending_);
        pending_.clear();
        if (Status taken = TrailerLine(line); !taken.ok()) return Failed(taken);
        break;
      }
      case State::kDone:
        return Failed(Framing(fmt::format("{} bytes follow the final chunk", input.size())));
    }
  }
  return Status::Ok();
}

Status ChunkedPayloadDecoder::TrailerLine(std::string_view line) {
  if (!line.empty()) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Framing(fmt::format("trailer line \"{}\" is not NAME:VALUE", line));
    }
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value(line.substr(colon + 1));
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (name == "x-amz-trailer-signature") {
      trailer_signature_ = std::move(value);
    } else {
      trailers_.emplace_back(std::move(name), std::move(value));
    }
    return Status::Ok();
  }
  state_ = State::kDone;
  if (!signed_chunks_) return Status::Ok();
  std::string canonical;
  for (const auto& [name, value] : trailers_) canonical += fmt::format("{}:{}\n", name, value);
  const std::string string_to_sign = fmt::format("AWS4-HMAC-SHA256-TRAILER\n{}{}\n{}",
                                                 scope_line_.substr(scope_line_.find('\n') + 1),
                                                 previous_, s3::Sha256Hex(canonical));
  if (!ConstantTimeEqual(s3::HmacSha256Hex(signing_key_, string_to_sign), trailer_signature_)) {
    return UnauthenticatedError(
        "SignatureDoesNotMatch: the trailing headers are not signed by the request's key");
  }
  return Status::Ok();
}

Status ChunkedPayloadDecoder::Finish() {
  if (!error_.ok()) return error_;
  if (state_ != State::kDone) {
    return Failed(InvalidArgumentError(
        fmt::format("IncompleteBody: the aws-chunked body ended after {} chunks and {} bytes, "
                    "before its final chunk",
                    chunks_, decoded_)));
  }
  if (decoded_length_ && decoded_ != *decoded_length_) {
    return Failed(InvalidArgumentError(
        fmt::format("IncompleteBody: {} bytes decoded, x-amz-decoded-content-length says {}",
                    decoded_, *decoded_length_)));
  }
  return Status::Ok();
}

}  // namespace depot::s3
