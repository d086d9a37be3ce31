// cpp-httplib (Debian's libcpp-httplib-dev): its thread pool, TCP_NODELAY; every GET answered with
// the same 4 KiB body. For bench/http_stack_bench.sh.
//   httplib PORT
#include <httplib.h>

#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string body(4096, 'x');
  httplib::Server server;
  server.set_tcp_nodelay(true);  // off by default: each response would wait for a delayed ACK
  server.Get(".*", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(body, "application/octet-stream");
  });
  return server.listen("127.0.0.1", std::atoi(argv[1])) ? 0 : 1;
}
