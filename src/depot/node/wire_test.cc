#include "depot/node/wire.h"

#include <gmock/gmock.h>

#include "depot/core/testing/status_matchers.h"

namespace depot::node {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'800'000'000'000;

ProviderRecord Provider() {
  ProviderRecord record;
  record.content = cas::ContentId{blake3::Hash("some blob")};
  record.size = 9;
  record.endpoint = "127.0.0.1:9100";
  record.issued_ms = kNow;
  record.expires_ms = kNow + 120'000;
  return record;
}

TEST(WireTest, RecordsRoundTripAndNameTheirSigner) {
  const KeyPair keys = KeyPair::Generate();
  auto provider = OpenProviderRecord(SealProviderRecord(keys, Provider()), kNow + 1);
  ASSERT_THAT(provider.status(), IsOk());
  EXPECT_EQ(provider->provider, keys.id());
  EXPECT_EQ(provider->content, Provider().content);
  EXPECT_EQ(provider->size, 9u);
  EXPECT_EQ(provider->endpoint, "127.0.0.1:9100");

  NodeRecord node{.dht = *Address::Parse("10.0.0.7:4222"),
                  .endpoint = "10.0.0.7:9000",
                  .issued_ms = kNow,
                  .expires_ms = kNow + 1000};
  auto opened = OpenNodeRecord(SealNodeRecord(keys, node), kNow);
  ASSERT_THAT(opened.status(), IsOk());
  EXPECT_EQ(opened->id, keys.id());
  EXPECT_EQ(opened->dht.ToString(), "10.0.0.7:4222");
  EXPECT_EQ(opened->endpoint, "10.0.0.7:9000");
  EXPECT_THAT(OpenNodeRecord(SealNodeRecord(keys, node), kNow + 1000).status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("expired")));
}

TEST(WireTest, EveryChangedByteOfARecordIsRefused) {
  const KeyPair keys = KeyPair::Generate();
  const std::string sealed = SealProviderRecord(keys, Provider());
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x20;
    EXPECT_FALSE(OpenProviderRecord(bad, kNow).ok()) << "byte " << i;
  }
  EXPECT_THAT(OpenProviderRecord(sealed.substr(0, sealed.size() - 1), kNow).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(OpenProviderRecord(sealed + "x", kNow).status(),
              StatusIs(StatusCode::kInvalidArgument));
  // A node cannot speak for another: re-signing another's record names the re-signer.
  const KeyPair mallory = KeyPair::Generate();
  auto forged = OpenProviderRecord(SealProviderRecord(mallory, Provider()), kNow);
  ASSERT_THAT(forged.status(), IsOk());
  EXPECT_EQ(forged->provider, mallory.id());
  EXPECT_THAT(OpenNodeRecord(sealed, kNow).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("DNR1")));
}

TEST(WireTest, MessagesReachOnlyTheirReceiverOnce) {
  const KeyPair alice = KeyPair::Generate(), bob = KeyPair::Generate(), eve = KeyPair::Generate();
  ReplayGuard guard;
  const std::string message = SealMessage(alice, MessageKind::kChallenge, bob.id(), "body", kNow);
  auto opened = guard.Open(message, bob.id(), kNow + 10);
  ASSERT_THAT(opened.status(), IsOk());
  EXPECT_EQ(opened->from, alice.id());
  EXPECT_EQ(opened->kind, MessageKind::kChallenge);
  EXPECT_EQ(opened->body, "body");
  EXPECT_THAT(guard.Open(message, bob.id(), kNow + 20).status(),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("replayed")));
  EXPECT_THAT(guard.Open(SealMessage(alice, MessageKind::kPing, bob.id(), "", kNow), eve.id(), kNow)
                  .status(),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("not this one")));
  EXPECT_THAT(guard
                  .Open(SealMessage(alice, MessageKind::kPing, bob.id(), "", kNow), bob.id(),
                        kNow + kMaxMessageAgeMs + 1)
                  .status(),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("too old")));
  EXPECT_THAT(guard
                  .Open(SealMessage(alice, MessageKind::kPing, bob.id(), "", kNow), bob.id(),
                        kNow - kMaxClockSkewMs - 1)
                  .status(),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("ahead")));
  for (size_t i = 0; i < message.size(); ++i) {
    std::string bad = message;
    bad[i] ^= 1;
    EXPECT_FALSE(DecodeMessage(bad).ok()) << "byte " << i;
  }
}

TEST(WireTest, RepliesAnswerTheirRequestFromItsReceiverOnly) {
  const KeyPair alice = KeyPair::Generate(), bob = KeyPair::Generate(), eve = KeyPair::Generate();
  ReplayGuard guard;
  const std::string request = SealMessage(alice, MessageKind::kPing, bob.id(), "", kNow);
  auto at_bob = guard.Open(request, bob.id(), kNow);
  ASSERT_THAT(at_bob.status(), IsOk());
  const Nonce nonce = *NonceOf(request);
  EXPECT_THAT(OpenReply(SealReply(bob, *at_bob, "pong", kNow), alice.id(), bob.id(), nonce, kNow),
              ::depot::testing::IsOkAndHolds(std::string("pong")));
  EXPECT_THAT(
      OpenReply(SealReply(bob, *at_bob, "no room", kNow, true), alice.id(), bob.id(), nonce, kNow)
          .status(),
      StatusIs(StatusCode::kFailedPrecondition, HasSubstr("no room")));
  // Eve answering in Bob's place, or Bob's answer to another request, is refused.
  EXPECT_THAT(
      OpenReply(SealReply(eve, *at_bob, "pong", kNow), alice.id(), bob.id(), nonce, kNow).status(),
      StatusIs(StatusCode::kPermissionDenied));
  const std::string other = SealMessage(alice, MessageKind::kPing, bob.id(), "", kNow);
  EXPECT_THAT(
      OpenReply(SealReply(bob, *at_bob, "pong", kNow), alice.id(), bob.id(), *NonceOf(other), kNow)
          .status(),
      StatusIs(StatusCode::kPermissionDenied, HasSubstr("answers no request")));
}

}  // namespace
}  // namespace depot::node
