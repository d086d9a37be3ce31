#include "depot/http/client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>

#include "depot/core/byte_buffer.h"
#include "depot/core/mutex.h"

namespace depot::http {
namespace {

std::once_flag curl_init_once;

void InitCurl() {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// The state of one transfer, shared with curl's callbacks.
struct Transfer {
  const Request* request = nullptr;
  size_t body_sent = 0;
  BodySink* sink = nullptr;
  const Context* ctx = nullptr;
  Response response;
  bool headers_done = false;
  bool to_sink = false;
  std::optional<uint64_t> content_length;
  std::string error_body;  // body of a non-2xx response, or of a 2xx one without a sink
  ByteBuffer collected;    // 2xx body without a sink, when its length is known
  Status sink_status;

  // Called on the first body byte (or at the end for an empty body): decides where bytes go.
  void FinishHeaders() {
    if (headers_done) return;
    headers_done = true;
    if (const std::string* length = response.Find("content-length")) {
      uint64_t n = 0;
      if (std::from_chars(length->data(), length->data() + length->size(), n).ec == std::errc()) {
        content_length = n;
      }
    }
    bool success = response.status >= 200 && response.status < 300;
    if (success && sink != nullptr) {
      to_sink = true;
      sink_status = sink->Begin(response);
    } else if (success && content_length && request->method != "HEAD") {
      collected = ByteBuffer(*content_length, ByteBuffer::Fill::kWhole);
    }
  }
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    // A new status line (after "100 Continue" or a redirect): start over.
    t->response.headers.clear();
    size_t space = line.find(' ');
    t->response.status = space == std::string_view::npos ? 0 : std::atoi(line.data() + space + 1);
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response.headers.emplace_back(Lower(Trim(line.substr(0, colon))),
                                     std::string(Trim(line.substr(colon + 1))));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * n);
  t->FinishHeaders();
  if (t->to_sink) {
    if (t->sink_status.ok()) t->sink_status = t->sink->Append(chunk);
    return t->sink_status.ok() ? chunk.size() : 0;  // 0 makes curl abort the transfer
  }
  if (t->collected.capacity() > 0) {
    if (chunk.size() > t->collected.remaining()) return 0;  // longer than its Content-Length
    t->collected.Append(chunk);
  } else {
    t->error_body.append(chunk);
  }
  return chunk.size();
}

size_t OnRead(char* out, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const Bytes& body = t->request->body;
  size_t count = std::min(size * n, body.size() - t->body_sent);
  std::memcpy(out, body.data() + t->body_sent, count);
  t->body_sent += count;
  return count;
}

// Aborts the transfer (CURLE_ABORTED_BY_CALLBACK) once the request's context has ended.
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const Context& ctx = *static_cast<Transfer*>(user)->ctx;
  return ctx.IsCancelled() || ctx.Expired() ? 1 : 0;
}

int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->request->body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->body_sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

}  // namespace

const std::string* Response::Find(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

struct Client::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

Client::Client(ClientOptions options) : options_(options) { InitCurl(); }

Client::~Client() = default;

std::unique_ptr<Client::Handle> Client::Acquire() {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      auto handle = std::move(idle_.back());
      idle_.pop_back();
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  handle->curl = curl_easy_init();
  return handle;
}

void Client::Release(std::unique_ptr<Handle> handle) {
  // Reset clears the options but keeps the live connection for the next request.
  curl_easy_reset(handle->curl);
  MutexLock lock(mu_);
  if (static_cast<int>(idle_.size()) < options_.max_idle_handles) {
    idle_.push_back(std::move(handle));
  }
}

Result<Response> Client::Send(const Request& request, BodySink* sink, const Context& ctx) {
  auto handle = Acquire();
  if (handle->curl == nullptr) return InternalError("curl_easy_init failed");
  CURL* curl = handle->curl;

  Transfer t;
  t.request = &request;
  t.sink = sink;
  t.ctx = &ctx;

  curl_slist* headers = nullptr;
  bool has_content_type = false;
  for (const auto& [name, value] : request.headers) {
    if (Lower(name) == "content-type") has_content_type = true;
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  // No "Expect: 100-continue" round trip, and no default form content type on POST.
  headers = curl_slist_append(headers, "Expect:");
  if (!has_content_type) headers = curl_slist_append(headers, "Content-Type:");

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // Keys may hold "/./" and "/../": curl must send the path exactly as it was signed.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  // "No byte for idle_timeout" as curl's low-speed rule: under 1 byte/s for that many seconds.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(options_.idle_timeout.count() / 1000)));
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  if (std::optional<Context::Clock::duration> left = ctx.Remaining()) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*left).count();
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(ms, 1)));
  }
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);

  const std::string& method = request.method;
  auto body_size = static_cast<curl_off_t>(request.body.size());
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, body_size);
  } else if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, body_size);
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &t);
  }

  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (code == CURLE_OK) t.FinishHeaders();  // a response without body bytes

  if (!t.sink_status.ok()) {
    // The sink refused the data: the connection is in an unknown state, so it is not reused.
    return t.sink_status;
  }
  if (code != CURLE_OK && (ctx.IsCancelled() || ctx.Expired())) {
    return ctx.Check(fmt::format("{} {}", method, request.url));  // the connection is dropped
  }
  if (code != CURLE_OK) {
    return UnavailableError(
        fmt::format("{} {}: {}", method, request.url, curl_easy_strerror(code)));
  }
  if (t.collected.capacity() > 0 && t.collected.size() != t.collected.capacity()) {
    return UnavailableError(fmt::format("{} {}: body ended after {} of {} bytes", method,
                                        request.url, t.collected.size(), t.collected.capacity()));
  }
  Release(std::move(handle));
  Response response = std::move(t.response);
  if (t.collected.capacity() > 0) {
    response.body = std::move(t.collected).Freeze();
  } else if (!t.error_body.empty()) {
    response.body = Bytes::FromString(std::move(t.error_body));
  }
  return response;
}

}  // namespace depot::http
