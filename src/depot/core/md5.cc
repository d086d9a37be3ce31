#include "depot/core/md5.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace depot {

struct Md5::Context {
  EVP_MD_CTX* ctx = nullptr;
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Md5::Md5() : ctx_(std::make_unique<Context>()) {
  ctx_->ctx = EVP_MD_CTX_new();
  if (ctx_->ctx == nullptr || EVP_DigestInit_ex(ctx_->ctx, EVP_md5(), nullptr) != 1) {
    std::fprintf(stderr, "depot: OpenSSL MD5 is unavailable\n");
    std::abort();
  }
}

Md5::~Md5() = default;
Md5::Md5(Md5&&) noexcept = default;
Md5& Md5::operator=(Md5&&) noexcept = default;

void Md5::Update(std::string_view data) { EVP_DigestUpdate(ctx_->ctx, data.data(), data.size()); }

std::array<uint8_t, 16> Md5::Finish() {
  std::array<uint8_t, 16> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_->ctx, digest.data(), &length);
  return digest;
}

std::string Md5::HexOf(std::string_view data) {
  Md5 md5;
  md5.Update(data);
  return HexEncode(md5.Finish());
}

std::string HexEncode(const uint8_t* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 15];
  }
  return out;
}

}  // namespace depot
