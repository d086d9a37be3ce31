// Fuzzes what a depot node reads from the network (node/wire.h): messages, replies, node and
// provider records. Two kinds of input, by the first byte's low bit:
//   0: mutations (u16 position, u8 xor) applied to a genuine message from a fixed key: it must
//      open exactly when no mutation changed it (a changed byte is never accepted as signed);
//   1: the rest as is, given to every decoder: each may refuse, with kInvalidArgument,
//      kUnauthenticated, kPermissionDenied or kFailedPrecondition, never crash or accept a
//      message no key signed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "depot/node/wire.h"

namespace {

using depot::StatusCode;
using namespace depot::node;

constexpr int64_t kNow = 1'800'000'000'000;

const KeyPair& Sender() {
  static const KeyPair keys = *KeyPair::FromSeed(std::string(32, '\x01'));
  return keys;
}
const KeyPair& Receiver() {
  static const KeyPair keys = *KeyPair::FromSeed(std::string(32, '\x02'));
  return keys;
}

void Expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz_node_message: %s\n", what);
    std::abort();
  }
}

void ExpectRefusal(const depot::Status& status) {
  const StatusCode code = status.code();
  Expect(code == StatusCode::kInvalidArgument || code == StatusCode::kUnauthenticated ||
             code == StatusCode::kPermissionDenied || code == StatusCode::kFailedPrecondition,
         "a refusal of an unexpected kind");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    const std::string genuine =
        SealMessage(Sender(), MessageKind::kStoreRequest, Receiver().id(), "a body", kNow);
    std::string message = genuine;
    for (size_t i = 0; i + 3 <= input.size(); i += 3) {
      const size_t at = (uint8_t(input[i]) | uint8_t(input[i + 1]) << 8) % message.size();
      message[at] = static_cast<char>(message[at] ^ input[i + 2]);
    }
    ReplayGuard guard;
    auto opened = guard.Open(message, Receiver().id(), kNow);
    Expect(opened.ok() == (message == genuine), "a changed message opened, or the genuine not");
    if (!opened.ok()) ExpectRefusal(opened.status());
    return 0;
  }
  ReplayGuard guard;
  auto message = guard.Open(input, Receiver().id(), kNow);
  if (message.ok()) {
    Expect(message->from == depot::node::NodeId::FromPublicKey(message->public_key),
           "a message whose sender is not its key's");
  } else {
    ExpectRefusal(message.status());
  }
  if (auto reply = OpenReply(input, Receiver().id(), Sender().id(), Nonce{}, kNow); !reply.ok()) {
    ExpectRefusal(reply.status());
  }
  if (auto record = OpenNodeRecord(input, kNow); !record.ok()) ExpectRefusal(record.status());
  if (auto record = OpenProviderRecord(input, kNow); !record.ok()) ExpectRefusal(record.status());
  return 0;
}
