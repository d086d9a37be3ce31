// depot::server::ByteStream: the bytes of one server connection, plain TCP or TLS over it
// (internal to depot serve). Beast reads and writes HTTP through it as through a socket: it is a
// SyncReadStream and a SyncWriteStream. Not thread-safe: one connection thread; closing the
// socket from another thread (the reaper's shutdown) ends its blocked reads and writes.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/system/system_error.hpp>
#include <memory>
#include <optional>
#include <string>

#include "depot/core/result.h"

namespace depot::server {

using TlsContext = boost::asio::ssl::context;

// A server's TLS context from a PEM certificate chain file and a PEM private key file: TLS 1.2
// and later, the key checked against the certificate. kInvalidArgument naming the file that
// cannot be used, and why.
Result<std::shared_ptr<TlsContext>> MakeTlsContext(const std::string& cert_file,
                                                   const std::string& key_file);

class ByteStream {
 public:
  using tcp = boost::asio::ip::tcp;

  // Plain TCP.
  explicit ByteStream(tcp::socket& socket) : socket_(socket) {}
  // TLS over `socket`, once Handshake has succeeded.
  ByteStream(tcp::socket& socket, TlsContext& tls) : socket_(socket) { tls_.emplace(socket, tls); }

  // Whether the bytes travel over TLS.
  bool secure() const { return tls_.has_value(); }

  // The server's side of the TLS handshake; nothing for plain TCP.
  void Handshake(boost::system::error_code& ec) {
    if (tls_) tls_->handshake(boost::asio::ssl::stream_base::server, ec);
  }

  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    return tls_ ? tls_->read_some(buffers, ec) : socket_.read_some(buffers, ec);
  }
  template <typename ConstBuffers>
  size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
    return tls_ ? tls_->write_some(buffers, ec) : socket_.write_some(buffers, ec);
  }
  // The throwing forms the stream concepts also ask for.
  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    return OrThrow([&](boost::system::error_code& ec) { return read_some(buffers, ec); });
  }
  template <typename ConstBuffers>
  size_t write_some(const ConstBuffers& buffers) {
    return OrThrow([&](boost::system::error_code& ec) { return write_some(buffers, ec); });
  }

  tcp::socket& socket() { return socket_; }
  bool tls() const { return tls_.has_value(); }

 private:
  template <typename Io>
  static size_t OrThrow(Io io) {
    boost::system::error_code ec;
    const size_t n = io(ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  tcp::socket& socket_;
  std::optional<boost::asio::ssl::stream<tcp::socket&>> tls_;
};

}  // namespace depot::server
