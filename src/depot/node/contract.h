// depot::node storage contracts: terms, price, states and the proofs that keep them honest.
//
//   ContractTerms terms{.content = id, .size = n, .duration_ms = day, .proof_interval_ms = hour};
//   uint64_t price = Price(terms);                        // micro-tokens (docs/decisions.md:
//   formula) ChallengeChain chain = ChallengeChain::Make(terms.epochs());          // the client's
//   secret terms.challenge_commitment = chain.commitment();
//   ...
//   Challenge c = chain.ChallengeFor(contract_id, epoch);                 // at each epoch
//   uint64_t group = c.Group(terms.size);   // a leaf group neither side chose (see below)
//
// Contract:
//   - A contract binds one client and one provider to terms (content, size, duration, one proof
//     per interval, tier, quality, replication it is part of, misses allowed). Its id is the
//     BLAKE3 of the client, the provider and the encoded terms: both sides compute the same id.
//   - Price (micro-tokens): base[tier] x quality multiplier x GiB x days, rounded up, at least one
//     micro-token per epoch (ZHTP's tiers Hot 1000 / Warm 300 / Cold 100 / Archive 30 tokens per
//     GiB-day and multipliers Basic 1.0 / Premium 1.5 / Enterprise 2.0). The escrow is the price;
//     each passed proof releases price / epochs to the provider (the last one the remainder);
//     each failed one returns that share to the client and charges the provider the same amount
//     again as a penalty, paid to the client (ledger.h).
//   - States change only along kTransitions (docs/decisions.md has the table); CheckTransition
//   refuses
//     every other change with kFailedPrecondition naming both states.
//   - Challenges are unbiased: at signing, the client commits to the end of a hash chain
//     (c_N = BLAKE3^N(secret)); for epoch e it reveals c_{N-e}, which the provider checks against
//     the commitment (or the last value it saw) before answering. The challenged leaf group is
//     BLAKE3-keyed(c_{N-e}, contract id || e) mod groups: the client cannot pick it (the chain was
//     fixed before), and the provider cannot know it in advance (it cannot invert BLAKE3), so a
//     provider that dropped a fraction f of the blob fails each epoch with probability f.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "depot/cas/blob_store.h"
#include "depot/core/result.h"
#include "depot/node/identity.h"

namespace depot::node {

enum class Tier : uint8_t { kHot = 0, kWarm = 1, kCold = 2, kArchive = 3 };
enum class Quality : uint8_t { kBasic = 0, kPremium = 1, kEnterprise = 2 };
enum class ContractState : uint8_t {
  kDraft = 0,       // offered by the client, not yet accepted
  kActive = 1,      // accepted: the provider holds the blob and answers challenges
  kCompleted = 2,   // every epoch passed (or failed within the misses allowed) to the end
  kTerminated = 3,  // ended early by agreement or refusal; the unearned escrow goes back
  kDisputed = 4,    // a challenge the provider did not answer (unreachable), until one settles
  kExpired = 5,     // an offer nobody accepted in time
  kBreached = 6,    // more failed proofs than allowed: the rest of the escrow goes back
};

std::string_view TierName(Tier tier);
std::string_view QualityName(Quality quality);
std::string_view StateName(ContractState state);
Result<Tier> ParseTier(std::string_view text);
Result<Quality> ParseQuality(std::string_view text);

// The allowed changes of state; anything else is refused.
inline constexpr std::pair<ContractState, ContractState> kTransitions[] = {
    {ContractState::kDraft, ContractState::kActive},
    {ContractState::kDraft, ContractState::kTerminated},
    {ContractState::kDraft, ContractState::kExpired},
    {ContractState::kActive, ContractState::kCompleted},
    {ContractState::kActive, ContractState::kTerminated},
    {ContractState::kActive, ContractState::kDisputed},
    {ContractState::kActive, ContractState::kBreached},
    {ContractState::kDisputed, ContractState::kActive},
    {ContractState::kDisputed, ContractState::kBreached},
};
Status CheckTransition(ContractState from, ContractState to);

using ContractId = std::array<uint8_t, 32>;
using ChainLink = std::array<uint8_t, 32>;

struct ContractTerms {
  cas::ContentId content;
  uint64_t size = 0;
  int64_t start_ms = 0;
  int64_t duration_ms = 0;
  int64_t proof_interval_ms = 0;  // one challenge per interval (an epoch)
  Tier tier = Tier::kWarm;
  Quality quality = Quality::kBasic;
  uint32_t replication = 3;     // how many providers the client keeps the blob with
  uint32_t allowed_misses = 1;  // failed proofs tolerated before the contract is breached
  ChainLink challenge_commitment{};

  uint64_t epochs() const;  // duration / interval, at least 1
  std::string Encode() const;
  static Result<ContractTerms> Decode(std::string_view bytes);
  // kInvalidArgument naming the first bad term (no duration, an interval longer than it, ...).
  Status Validate() const;
};

uint64_t Price(const ContractTerms& terms);
ContractId MakeContractId(const NodeId& client, const NodeId& provider, const ContractTerms& terms);

// What a challenge asks: the epoch, and the chain value revealed for it.
struct Challenge {
  ContractId contract{};
  uint64_t epoch = 0;  // 1..epochs
  ChainLink reveal{};  // c_{N - epoch}

  // The leaf group (cas::kGroupLen bytes) this challenge asks for, in a blob of `size` bytes.
  uint64_t Group(uint64_t size) const;
  // The bytes [begin, end) of that group.
  std::pair<uint64_t, uint64_t> Range(uint64_t size) const;
  std::string Encode() const;
  static Result<Challenge> Decode(std::string_view bytes);
};

// True when `reveal` hashes, `steps` times, to `later` (the commitment, or the reveal of a later
// link the provider saw before).
bool ChainLeadsTo(const ChainLink& reveal, const ChainLink& later, uint64_t steps);

// The client's side of the chain: the secret and its length.
class ChallengeChain {
 public:
  static ChallengeChain Make(uint64_t epochs);
  static ChallengeChain FromSecret(const ChainLink& secret, uint64_t epochs);
  ChainLink commitment() const;  // c_N
  Challenge ChallengeFor(const ContractId& contract, uint64_t epoch) const;
  const ChainLink& secret() const { return secret_; }

 private:
  ChallengeChain(const ChainLink& secret, uint64_t epochs) : secret_(secret), epochs_(epochs) {}
  ChainLink Link(uint64_t n) const;  // c_n = BLAKE3^n(secret)
  ChainLink secret_;
  uint64_t epochs_;
};

}  // namespace depot::node
