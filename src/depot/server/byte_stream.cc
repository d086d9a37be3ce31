#include "depot/server/byte_stream.h"

#include <fmt/format.h>

namespace depot::server {

Result<std::shared_ptr<TlsContext>> MakeTlsContext(const std::string& cert_file,
                                                   const std::string& key_file) {
  auto context = std::make_shared<TlsContext>(TlsContext::tls_server);
  boost::system::error_code ec;
  context->set_options(TlsContext::default_workarounds | TlsContext::no_sslv2 |
                           TlsContext::no_sslv3 | TlsContext::no_tlsv1 | TlsContext::no_tlsv1_1 |
                           TlsContext::single_dh_use,
                       ec);
  if (ec) return InternalError(fmt::format("serve: TLS options: {}", ec.message()));
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return InvalidArgumentError(
        fmt::format("serve: --tls-cert \"{}\" is not a readable PEM certificate chain: {}",
                    cert_file, ec.message()));
  }
  // OpenSSL checks that the key is the certificate's ("key values mismatch" otherwise).
  context->use_private_key_file(key_file, TlsContext::pem, ec);
  if (ec) {
    return InvalidArgumentError(
        fmt::format("serve: --tls-key \"{}\" cannot be used: {} (it must be the PEM private key "
                    "of the certificate in \"{}\")",
                    key_file, ec.message(), cert_file));
  }
  return context;
}

}  // namespace depot::server
