#include "depot/server/testing/raw_client.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <regex>

#include "depot/core/base64.h"
#include "depot/core/md5.h"
#include "depot/object/helpers.h"

namespace depot::server::testing {

RawConnection::RawConnection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  timeval timeout{5, 0};  // bounded: a test that waits longer has failed
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
}

RawConnection::~RawConnection() { ::close(fd_); }

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string RawConnection::ReadUntilClosed() {
  std::string out;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return out;
    out.append(buffer, static_cast<size_t>(n));
  }
}

std::string RawConnection::ReadResponse(bool head) {
  std::string out;
  char buffer[4096];
  while (true) {
    const size_t end = out.find("\r\n\r\n");
    if (end != std::string::npos) {
      const size_t length_at = out.find("Content-Length: ");
      size_t length = 0;
      if (!head && length_at != std::string::npos && length_at < end) {
        length = std::stoul(out.substr(length_at + 16));
      }
      if (out.size() >= end + 4 + length) return out;
    }
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return out;
    out.append(buffer, static_cast<size_t>(n));
  }
}

bool RawConnection::ClosedByServer() {
  char byte;
  return ::recv(fd_, &byte, 1, 0) == 0;
}

namespace {

s3::Credentials CredentialsOf(const Signer& signer) {
  s3::Credentials credentials;
  credentials.access_key_id = signer.access_key;
  credentials.secret_access_key = signer.secret_key;
  return credentials;
}

}  // namespace

std::string SignedRequest(uint16_t port, std::string method, std::string path, std::string body,
                          std::string payload_sha256, std::vector<s3::Header> headers,
                          std::vector<s3::Header> query, const Signer& signer) {
  s3::SignableRequest request;
  request.method = method;
  request.host = fmt::format("127.0.0.1:{}", port);
  request.path = path;
  request.query = std::move(query);
  request.headers = headers;
  request.payload_sha256 = std::move(payload_sha256);
  auto signed_request =
      s3::SignHeaders(request, CredentialsOf(signer), {}, std::chrono::system_clock::now());
  if (!signed_request.ok()) return "";
  std::string text = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", method,
                                 signed_request->target, request.host, body.size());
  for (const auto& [name, value] : headers) text += fmt::format("{}: {}\r\n", name, value);
  for (const auto& [name, value] : signed_request->headers) {
    text += fmt::format("{}: {}\r\n", name, value);
  }
  return text + "\r\n" + body;
}

std::string PresignedTarget(uint16_t port, std::string method, std::string path,
                            const Signer& signer) {
  s3::SignableRequest request;
  request.method = std::move(method);
  request.host = fmt::format("127.0.0.1:{}", port);
  request.path = std::move(path);
  auto target = s3::Presign(request, CredentialsOf(signer), {}, std::chrono::system_clock::now(),
                            std::chrono::seconds(300));
  return target.ok() ? *target : "";
}

std::vector<std::string> StoreSnapshot(object::ObjectStore& store) {
  std::vector<std::string> out;
  object::ListPager pages(store, {});
  while (auto page = pages.Next()) {
    if (!page->ok()) return {"list failed: " + page->status().ToString()};
    for (const auto& object : (*page)->objects) out.push_back(object.key + " " + object.etag);
  }
  auto uploads = store.ListMultipartUploads("");
  if (!uploads.ok()) return {"uploads failed: " + uploads.status().ToString()};
  for (const auto& upload : *uploads) {
    auto parts = store.ListParts(upload.key, upload.upload_id);
    out.push_back(fmt::format("upload {} {} parts {}", upload.key, upload.upload_id,
                              parts.ok() ? parts->size() : 0));
  }
  return out;
}

std::string Md5Base64(std::string_view data) {
  Md5 md5;
  md5.Update(data);
  const auto digest = md5.Finish();
  return Base64Encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

int StatusOf(std::string_view response) {
  // "HTTP/1.1 200 OK"
  if (response.size() < 12 || !response.starts_with("HTTP/1.1 ")) return 0;
  int status = 0;
  std::from_chars(response.data() + 9, response.data() + 12, status);
  return status;
}

std::string HeaderOf(const std::string& response, const std::string& name) {
  const std::regex pattern("\r\n" + name + ": ([^\r]*)\r\n", std::regex::icase);
  std::smatch match;
  return std::regex_search(response, match, pattern) ? match[1].str() : "";
}

std::string BodyOf(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

}  // namespace depot::server::testing
