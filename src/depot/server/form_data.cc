#include "depot/server/form_data.h"

#include <fmt/format.h>

#include "depot/core/ascii.h"

namespace depot::server {
namespace {

constexpr size_t kMaxField = 20 << 10;
constexpr size_t kMaxHeaders = 16 << 10;
constexpr size_t kMaxFields = 1000;

Status Malformed(std::string_view why) {
  return InvalidArgumentError(fmt::format("MalformedPOSTRequest: {}", why));
}

// The parameters of a header value such as `form-data; name="key"; filename="a b.png"`:
// lower-cased names, unquoted values (a backslash escapes the next character).
std::map<std::string, std::string> Parameters(std::string_view value) {
  std::map<std::string, std::string> out;
  size_t at = value.find(';');
  while (at != std::string_view::npos && at < value.size()) {
    ++at;
    const size_t equals = value.find('=', at);
    if (equals == std::string_view::npos) break;
    const std::string name = AsciiLower(TrimBlanks(value.substr(at, equals - at)));
    std::string text;
    at = equals + 1;
    while (at < value.size() && value[at] == ' ') ++at;
    if (at < value.size() && value[at] == '"') {
      for (++at; at < value.size() && value[at] != '"'; ++at) {
        if (value[at] == '\\' && at + 1 < value.size()) ++at;
        text += value[at];
      }
      at = value.find(';', at);
    } else {
      const size_t end = value.find(';', at);
      text = TrimBlanks(value.substr(at, end == std::string_view::npos ? end : end - at));
      at = end;
    }
    out[name] = std::move(text);
  }
  return out;
}

}  // namespace

std::string FormDataReader::BoundaryOf(std::string_view content_type) {
  if (!AsciiLower(TrimBlanks(content_type.substr(0, content_type.find(';'))))
           .starts_with("multipart/form-data")) {
    return "";
  }
  auto parameters = Parameters(content_type);
  auto it = parameters.find("boundary");
  return it == parameters.end() ? "" : it->second;
}

FormDataReader::FormDataReader(std::string_view boundary, OnFile on_file, OnData on_data)
    : delimiter_("\r\n--" + std::string(boundary)),
      on_file_(std::move(on_file)),
      on_data_(std::move(on_data)),
      // The first boundary has no line break before it: one is supplied, so every boundary is
      // the same delimiter.
      pending_("\r\n") {}

Status FormDataReader::Feed(std::string_view piece) {
  if (state_ == State::kAfterFile || state_ == State::kDone) return Status::Ok();
  pending_.append(piece);
  for (bool progressed = true; progressed;) DEPOT_RETURN_IF_ERROR(Step(&progressed));
  return Status::Ok();
}

Status FormDataReader::Finish() {
  if (state_ == State::kAfterFile || (state_ == State::kDone && !saw_file_)) return Status::Ok();
  return Malformed("the body ended before its closing boundary");
}

Status FormDataReader::Step(bool* progressed) {
  *progressed = false;
  // Bytes that may still begin a delimiter stay pending; the rest is content.
  const size_t keep = delimiter_.size() - 1;
  switch (state_) {
    case State::kPreamble:
    case State::kField:
    case State::kFile: {
      const size_t at = pending_.find(delimiter_);
      const size_t content =
          at != std::string::npos ? at : (pending_.size() > keep ? pending_.size() - keep : 0);
      const std::string_view bytes(pending_.data(), content);
      if (state_ == State::kField) {
        if (value_.size() + bytes.size() > kMaxField) {
          return Malformed(fmt::format("field \"{}\" is longer than {} bytes", name_, kMaxField));
        }
        value_.append(bytes);
      } else if (state_ == State::kFile && !bytes.empty()) {
        DEPOT_RETURN_IF_ERROR(on_data_(bytes));
      }
      if (at == std::string::npos) {
        pending_.erase(0, content);
        return Status::Ok();
      }
      pending_.erase(0, at + delimiter_.size());
      if (state_ == State::kField) fields_[name_] = std::move(value_);
      state_ = state_ == State::kFile ? State::kAfterFile : State::kAfterBoundary;
      if (state_ == State::kAfterFile) pending_.clear();
      *progressed = state_ != State::kAfterFile;
      return Status::Ok();
    }
    case State::kAfterBoundary:
      if (pending_.size() < 2) return Status::Ok();
      if (pending_.starts_with("--")) {
        state_ = State::kDone;
        pending_.clear();
        return Status::Ok();
      }
      if (!pending_.starts_with("\r\n")) return Malformed("a boundary is not followed by CRLF");
      pending_.erase(0, 2);
      state_ = State::kHeaders;
      *progressed = true;
      return Status::Ok();
    case State::kHeaders: {
      const size_t end = pending_.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (pending_.size() > kMaxHeaders) return Malformed("a part's headers are too long");
        return Status::Ok();
      }
      const std::string headers = pending_.substr(0, end);
      pending_.erase(0, end + 4);
      DEPOT_RETURN_IF_ERROR(StartPart(headers));
      *progressed = true;
      return Status::Ok();
    }
    case State::kAfterFile:
    case State::kDone:
      pending_.clear();
      return Status::Ok();
  }
  return Status::Ok();
}

Status FormDataReader::StartPart(std::string_view headers) {
  std::string disposition, content_type;
  while (!headers.empty()) {
    const size_t eol = headers.find("\r\n");
    const std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? "" : headers.substr(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name = AsciiLower(TrimBlanks(line.substr(0, colon)));
    const std::string_view value = TrimBlanks(line.substr(colon + 1));
    if (name == "content-disposition") disposition = value;
    if (name == "content-type") content_type = value;
  }
  auto parameters = Parameters(disposition);
  if (!AsciiLower(disposition).starts_with("form-data") || !parameters.contains("name")) {
    return Malformed(
        fmt::format("a part's Content-Disposition \"{}\" is not form-data with a "
                    "name",
                    disposition));
  }
  const std::string name = AsciiLower(parameters["name"]);
  if (name == "file") {
    saw_file_ = true;
    state_ = State::kFile;
    return on_file_(parameters["filename"], content_type);
  }
  if (fields_.size() >= kMaxFields) return Malformed("more than 1000 fields");
  name_ = name;
  value_.clear();
  state_ = State::kField;
  return Status::Ok();
}

}  // namespace depot::server
