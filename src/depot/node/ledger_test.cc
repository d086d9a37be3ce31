#include "depot/node/ledger.h"

#include <fmt/format.h>
#include <gmock/gmock.h>

#include <map>

#include "depot/cas/outboard.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/open.h"

namespace depot::node {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kBalance = 1'000'000'000'000;

ContractTerms Terms(uint64_t size, int64_t duration_ms, int64_t interval_ms) {
  ContractTerms terms;
  terms.content = cas::ContentId{blake3::Hash("blob")};
  terms.size = size;
  terms.duration_ms = duration_ms;
  terms.proof_interval_ms = interval_ms;
  return terms;
}

TEST(ContractTest, PriceFollowsTheFormula) {
  ContractTerms terms = Terms(uint64_t{1} << 30, kDayMs, kDayMs);  // 1 GiB for a day
  terms.tier = Tier::kWarm;
  EXPECT_EQ(Price(terms), 300'000'000u);  // 300 tokens
  terms.tier = Tier::kHot;
  terms.quality = Quality::kEnterprise;
  terms.size = uint64_t{2} << 30;
  terms.duration_ms = kDayMs / 2;
  terms.proof_interval_ms = kDayMs / 4;
  EXPECT_EQ(Price(terms), 2'000'000'000u);  // 1000 x 2.0 x 2 GiB x half a day
  terms.size = 1;                           // rounded up, and at least one per epoch
  terms.tier = Tier::kArchive;
  terms.quality = Quality::kBasic;
  EXPECT_EQ(Price(terms), 2u);
}

TEST(ContractTest, TiersAndQualitiesParseByNameAndRefuseOthersNamingThem) {
  EXPECT_EQ(*ParseTier("cold"), Tier::kCold);
  EXPECT_EQ(*ParseQuality("premium"), Quality::kPremium);
  EXPECT_THAT(ParseTier("lukewarm").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"lukewarm\"")));
  EXPECT_THAT(ParseQuality("gold").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"gold\" is not a quality")));
}

TEST(ContractTest, EveryForbiddenTransitionIsRefused) {
  constexpr ContractState kAll[] = {ContractState::kDraft,     ContractState::kActive,
                                    ContractState::kCompleted, ContractState::kTerminated,
                                    ContractState::kDisputed,  ContractState::kExpired,
                                    ContractState::kBreached};
  int allowed = 0;
  for (ContractState from : kAll) {
    for (ContractState to : kAll) {
      bool in_table = false;
      for (const auto& [a, b] : kTransitions) in_table |= a == from && b == to;
      if (in_table) {
        EXPECT_THAT(CheckTransition(from, to), IsOk());
        ++allowed;
      } else {
        EXPECT_THAT(
            CheckTransition(from, to),
            StatusIs(StatusCode::kFailedPrecondition,
                     HasSubstr(fmt::format("from {} to {}", StateName(from), StateName(to)))));
      }
    }
  }
  EXPECT_EQ(allowed, 9);
}

TEST(ContractTest, BadTermsAreRefusedNamingThem) {
  EXPECT_THAT(Terms(10, 0, 1).Validate(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("0 ms")));
  EXPECT_THAT(Terms(10, 100, 200).Validate(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("200 ms")));
  EXPECT_THAT(Terms(10, kDayMs, 1).Validate(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("86400000 proofs")));
  ContractTerms terms = Terms(10, 100, 10);
  terms.replication = 13;
  EXPECT_THAT(terms.Validate(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("13")));
  auto decoded = ContractTerms::Decode(Terms(10, 100, 10).Encode());
  ASSERT_THAT(decoded.status(), IsOk());
  EXPECT_EQ(decoded->Encode(), Terms(10, 100, 10).Encode());
  EXPECT_THAT(ContractTerms::Decode("junk").status(), StatusIs(StatusCode::kInvalidArgument));
}

TEST(ContractTest, ChallengesFollowTheCommittedChainAndSpreadOverTheBlob) {
  const ChallengeChain chain = ChallengeChain::Make(1000);
  const ChainLink commitment = chain.commitment();
  const ContractId contract{1, 2, 3};
  ChainLink last = commitment;
  std::map<uint64_t, int> hits;
  for (uint64_t epoch = 1; epoch <= 1000; ++epoch) {
    const Challenge c = chain.ChallengeFor(contract, epoch);
    ASSERT_TRUE(ChainLeadsTo(c.reveal, last, 1)) << epoch;  // each reveal hashes to the one before
    ASSERT_TRUE(ChainLeadsTo(c.reveal, commitment, epoch)) << epoch;
    last = c.reveal;
    const uint64_t group = c.Group(10 * cas::kGroupLen - 5);
    ASSERT_LT(group, 10u);
    hits[group]++;
    EXPECT_EQ(Challenge::Decode(c.Encode())->Group(10 * cas::kGroupLen - 5), group);
  }
  for (const auto& [group, n] : hits) EXPECT_GT(n, 60) << "group " << group;  // 100 expected
  // A reveal the chain does not lead to is caught.
  ChainLink forged = chain.ChallengeFor(contract, 5).reveal;
  forged[0] ^= 1;
  EXPECT_FALSE(ChainLeadsTo(forged, commitment, 5));
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    ledger_.reset();
    auto store = kv::Open("rocksdb://" + (dir_.path() / "ledger").string());
    ASSERT_THAT(store.status(), IsOk());
    auto ledger = Ledger::Open(std::move(*store), client_.id());
    ASSERT_THAT(ledger.status(), IsOk());
    ledger_ = std::move(*ledger);
  }
  ContractRecord Offer(int64_t epochs, uint32_t allowed_misses = 1) {
    ContractRecord record;
    record.client = client_.id();
    record.provider = provider_.id();
    record.terms = Terms(uint64_t{1} << 30, epochs * kDayMs, kDayMs);
    record.terms.allowed_misses = allowed_misses;
    record.id = MakeContractId(record.client, record.provider, record.terms);
    record.provider_endpoint = "127.0.0.1:1";
    return record;
  }
  // Money neither appears nor vanishes: what the client holds, has escrowed and the provider
  // holds add up to the client's initial balance.
  void ExpectConserved() {
    auto client = ledger_->AccountOf(client_.id());
    auto provider = ledger_->AccountOf(provider_.id());
    ASSERT_THAT(client.status(), IsOk());
    ASSERT_THAT(provider.status(), IsOk());
    EXPECT_EQ(client->balance + static_cast<int64_t>(client->escrowed) + provider->balance,
              kBalance);
  }

  ::depot::testing::TempDir dir_;
  KeyPair client_ = KeyPair::Generate();
  KeyPair provider_ = KeyPair::Generate();
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerTest, PassedProofsPayFailedOnesPenaliseAndTheEndSettles) {
  const ContractRecord offer = Offer(4);
  ASSERT_THAT(ledger_->Propose(offer), IsOk());
  EXPECT_THAT(ledger_->Propose(offer), StatusIs(StatusCode::kAlreadyExists));
  const uint64_t price = Price(offer.terms);  // 4 days of 1 GiB, warm: 1200 tokens
  EXPECT_EQ(ledger_->AccountOf(client_.id())->escrowed, price);
  EXPECT_THAT(ledger_->RecordProof(offer.id, 1, 0, true, "").status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("draft")));
  ASSERT_THAT(ledger_->Transition(offer.id, ContractState::kActive, "accepted"), IsOk());

  auto first = ledger_->RecordProof(offer.id, 1, 3, true, "slice verified");
  ASSERT_THAT(first.status(), IsOk());
  EXPECT_EQ(first->released, price / 4);
  auto second = ledger_->RecordProof(offer.id, 2, 1, false, "no answer");
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_EQ(second->penalty, price / 4);
  EXPECT_THAT(ledger_->RecordProof(offer.id, 2, 1, true, "again").status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("epoch 2")));
  ExpectConserved();
  ASSERT_THAT(ledger_->RecordProof(offer.id, 3, 0, true, "").status(), IsOk());
  ASSERT_THAT(ledger_->RecordProof(offer.id, 4, 0, true, "").status(), IsOk());
  ExpectConserved();

  auto record = ledger_->Get(offer.id);
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_EQ(record->state, ContractState::kCompleted);
  EXPECT_EQ(record->passed, 3u);
  EXPECT_EQ(record->failed, 1u);
  EXPECT_EQ(record->escrow, 0u);
  EXPECT_EQ(record->paid, price - price / 4);  // the failed epoch's share went back as penalty
  const Account provider = *ledger_->AccountOf(provider_.id());
  EXPECT_EQ(provider.balance, static_cast<int64_t>(price - 2 * (price / 4)));
  EXPECT_EQ(provider.passed, 3u);
  EXPECT_EQ(provider.failed, 1u);
  EXPECT_LT(provider.reputation, 0.5);  // one failure outweighs three passes
  EXPECT_THAT(ledger_->Transition(offer.id, ContractState::kActive, "reopen"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("from completed to active")));
  EXPECT_EQ(ledger_->Get(offer.id)->state, ContractState::kCompleted);
}

TEST_F(LedgerTest, TooManyFailuresBreachAndReturnTheEscrow) {
  const ContractRecord offer = Offer(10, /*allowed_misses=*/1);
  ASSERT_THAT(ledger_->Propose(offer), IsOk());
  ASSERT_THAT(ledger_->Transition(offer.id, ContractState::kActive, "accepted"), IsOk());
  ASSERT_THAT(ledger_->RecordProof(offer.id, 1, 0, false, "wrong bytes").status(), IsOk());
  EXPECT_EQ(ledger_->Get(offer.id)->state, ContractState::kActive);
  ASSERT_THAT(ledger_->RecordProof(offer.id, 2, 0, false, "no answer").status(), IsOk());
  auto record = ledger_->Get(offer.id);
  EXPECT_EQ(record->state, ContractState::kBreached);
  EXPECT_EQ(record->escrow, 0u);
  EXPECT_EQ(ledger_->AccountOf(client_.id())->escrowed, 0u);
  ExpectConserved();
  EXPECT_THAT(ledger_->RecordProof(offer.id, 3, 0, true, "").status(),
              StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(LedgerTest, AProofSettlesADisputeEitherWay) {
  const ContractRecord offer = Offer(10, /*allowed_misses=*/0);
  ASSERT_THAT(ledger_->Propose(offer), IsOk());
  ASSERT_THAT(ledger_->Transition(offer.id, ContractState::kActive, "accepted"), IsOk());
  // Unreachable at epoch 1: disputed, nothing paid or charged; the late answer passes.
  ASSERT_THAT(ledger_->Transition(offer.id, ContractState::kDisputed, "epoch 1 unanswered"),
              IsOk());
  EXPECT_EQ(ledger_->AccountOf(provider_.id())->balance, 0);
  ASSERT_THAT(ledger_->RecordProof(offer.id, 1, 0, true, "late but verified").status(), IsOk());
  auto record = ledger_->Get(offer.id);
  EXPECT_EQ(record->state, ContractState::kActive);
  EXPECT_THAT(record->note, HasSubstr("dispute settled: epoch 1 passed"));
  EXPECT_EQ(record->passed, 1u);
  // Unreachable again, and never answers: the failure breaches (no misses allowed).
  ASSERT_THAT(ledger_->Transition(offer.id, ContractState::kDisputed, "epoch 2 unanswered"),
              IsOk());
  ASSERT_THAT(ledger_->RecordProof(offer.id, 2, 0, false, "unanswered past the window").status(),
              IsOk());
  record = ledger_->Get(offer.id);
  EXPECT_EQ(record->state, ContractState::kBreached);
  EXPECT_EQ(record->failed, 1u);
  EXPECT_EQ(record->escrow, 0u);
  ExpectConserved();
  EXPECT_THAT(ledger_->Transition(offer.id, ContractState::kDisputed, "again"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("from breached to disputed")));
}

TEST_F(LedgerTest, ARestartKeepsContractsProofsAndAccounts) {
  const ContractRecord offer = Offer(3);
  ASSERT_THAT(ledger_->Propose(offer), IsOk());
  ASSERT_THAT(ledger_->Transition(offer.id, ContractState::kActive, "accepted"), IsOk());
  ASSERT_THAT(ledger_->RecordProof(offer.id, 1, 2, true, "ok").status(), IsOk());
  const Account before = *ledger_->AccountOf(provider_.id());
  Reopen();
  auto record = ledger_->Get(offer.id);
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_EQ(record->state, ContractState::kActive);
  EXPECT_EQ(record->last_epoch, 1u);
  EXPECT_EQ(record->provider_endpoint, "127.0.0.1:1");
  auto proofs = ledger_->Proofs(offer.id);
  ASSERT_THAT(proofs.status(), IsOk());
  ASSERT_EQ(proofs->size(), 1u);
  EXPECT_EQ((*proofs)[0].group, 2u);
  EXPECT_EQ((*proofs)[0].detail, "ok");
  EXPECT_EQ(ledger_->AccountOf(provider_.id())->balance, before.balance);
  EXPECT_EQ(ledger_->Contracts()->size(), 1u);
  ExpectConserved();
}

TEST_F(LedgerTest, AnOfferOverTheBalanceIsRefused) {
  ContractRecord offer = Offer(1);
  offer.terms.size = uint64_t{1} << 50;  // a PiB for a day: 300 million tokens
  offer.id = MakeContractId(offer.client, offer.provider, offer.terms);
  EXPECT_THAT(ledger_->Propose(offer),
              StatusIs(StatusCode::kResourceExhausted, HasSubstr("over the balance")));
  EXPECT_EQ(ledger_->AccountOf(client_.id())->balance, kBalance);
  offer.id[0] ^= 1;
  EXPECT_THAT(ledger_->Propose(offer), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace depot::node
