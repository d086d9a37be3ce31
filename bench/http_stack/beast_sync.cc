// The HTTP stack of depot serve alone: Boost.Beast, synchronous, one thread per connection,
// TCP_NODELAY; every GET answered with the same 4 KiB body. For bench/http_stack_bench.sh.
//   beast_sync PORT
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <string>
#include <thread>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string body(4096, 'x');
  asio::io_context io;
  tcp::acceptor acceptor(
      io, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::atoi(argv[1]))});
  while (true) {
    auto socket = std::make_shared<tcp::socket>(io);
    acceptor.accept(*socket);
    socket->set_option(tcp::no_delay(true));
    std::thread([socket, &body] {
      boost::beast::flat_buffer buffer;
      boost::system::error_code ec;
      while (true) {
        http::request<http::empty_body> request;
        http::read(*socket, buffer, request, ec);
        if (ec) return;
        http::response<http::string_body> response{http::status::ok, 11};
        response.set(http::field::content_type, "application/octet-stream");
        response.body() = body;
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        http::write(*socket, response, ec);
        if (ec || !request.keep_alive()) return;
      }
    }).detach();
  }
}
