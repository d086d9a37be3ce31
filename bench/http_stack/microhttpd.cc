// libmicrohttpd (Debian's libmicrohttpd-dev): epoll with a pool of two threads; every GET answered
// with the same 4 KiB body. For bench/http_stack_bench.sh.
//   microhttpd PORT
#include <microhttpd.h>

#include <csignal>
#include <cstdlib>
#include <string>

namespace {

MHD_Response* shared_response = nullptr;

MHD_Result Answer(void*, MHD_Connection* connection, const char*, const char*, const char*,
                  const char*, size_t*, void**) {
  return MHD_queue_response(connection, MHD_HTTP_OK, shared_response);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  static std::string body(4096, 'x');
  shared_response =
      MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(shared_response, "Content-Type", "application/octet-stream");
  MHD_Daemon* daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TCP_FASTOPEN,
      static_cast<uint16_t>(std::atoi(argv[1])), nullptr, nullptr, &Answer, nullptr,
      MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_END);
  if (daemon == nullptr) return 1;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  int received = 0;
  sigwait(&signals, &received);
  MHD_stop_daemon(daemon);
}
