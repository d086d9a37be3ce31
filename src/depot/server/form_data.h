// depot::server::FormDataReader: a multipart/form-data body (RFC 7578, what an HTML form with
// enctype="multipart/form-data" sends) read as it arrives, for POST Object (internal to depot
// serve). The fields before the file part are kept whole; the file's bytes are handed on in
// pieces, never held; whatever follows the file is read and dropped (S3 ignores it).
//
//   FormDataReader reader(boundary, on_file, on_data);
//   for each piece of the body: DEPOT_RETURN_IF_ERROR(reader.Feed(piece));
//   DEPOT_RETURN_IF_ERROR(reader.Finish());
//
// on_file(filename, content_type) is called once, when the part named "file" begins (fields()
// then holds every field before it); on_data(bytes) with its bytes; an error either returns
// stops the reading. Field names are lower-cased. Malformed bodies, a field over 20 KiB and more
// than 1000 fields are kInvalidArgument ("MalformedPOSTRequest: ..."). Not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "depot/core/status.h"

namespace depot::server {

class FormDataReader {
 public:
  using OnFile = std::function<Status(std::string_view filename, std::string_view content_type)>;
  using OnData = std::function<Status(std::string_view bytes)>;

  FormDataReader(std::string_view boundary, OnFile on_file, OnData on_data);

  Status Feed(std::string_view piece);
  // The body ended: kInvalidArgument unless the file part was complete (or, with no file part,
  // the closing boundary was seen).
  Status Finish();

  const std::map<std::string, std::string>& fields() const { return fields_; }
  bool file_done() const { return state_ == State::kAfterFile; }
  bool saw_file() const { return saw_file_; }

  // The boundary parameter of a multipart/form-data Content-Type, or "" if it is not one.
  static std::string BoundaryOf(std::string_view content_type);

 private:
  enum class State { kPreamble, kHeaders, kField, kFile, kAfterBoundary, kAfterFile, kDone };
  Status Step(bool* progressed);
  Status StartPart(std::string_view headers);

  const std::string delimiter_;  // "\r\n--" + boundary
  OnFile on_file_;
  OnData on_data_;
  State state_ = State::kPreamble;
  std::string pending_;  // bytes not yet consumed
  std::string name_;     // of the field being read
  std::string value_;
  std::map<std::string, std::string> fields_;
  bool saw_file_ = false;
};

}  // namespace depot::server
