#include "depot/node/contract.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <cmath>

#include "depot/cas/outboard.h"
#include "depot/node/codec.h"

namespace depot::node {
namespace {

constexpr std::string_view kTermsMagic = "DCT1";
constexpr std::string_view kChallengeMagic = "DCC1";
constexpr uint64_t kMaxEpochs = 1'000'000;
constexpr int64_t kDayMs = 86'400'000;

// Tokens per GiB-day by tier, and multipliers by quality (ZHTP's PricingEngine).
constexpr double kTierPrice[] = {1000, 300, 100, 30};
constexpr double kQualityMultiplier[] = {1.0, 1.5, 2.0};

ChainLink HashLink(const ChainLink& link) {
  return blake3::Hash({reinterpret_cast<const char*>(link.data()), link.size()});
}

}  // namespace

std::string_view TierName(Tier tier) {
  static constexpr std::string_view kNames[] = {"hot", "warm", "cold", "archive"};
  return kNames[static_cast<int>(tier)];
}
std::string_view QualityName(Quality quality) {
  static constexpr std::string_view kNames[] = {"basic", "premium", "enterprise"};
  return kNames[static_cast<int>(quality)];
}
std::string_view StateName(ContractState state) {
  static constexpr std::string_view kNames[] = {"draft",    "active",  "completed", "terminated",
                                                "disputed", "expired", "breached"};
  return kNames[static_cast<int>(state)];
}

Result<Tier> ParseTier(std::string_view text) {
  for (Tier tier : {Tier::kHot, Tier::kWarm, Tier::kCold, Tier::kArchive}) {
    if (TierName(tier) == text) return tier;
  }
  return InvalidArgumentError(
      fmt::format("\"{}\" is not a tier (hot, warm, cold or archive)", text));
}

Result<Quality> ParseQuality(std::string_view text) {
  for (Quality quality : {Quality::kBasic, Quality::kPremium, Quality::kEnterprise}) {
    if (QualityName(quality) == text) return quality;
  }
  return InvalidArgumentError(
      fmt::format("\"{}\" is not a quality (basic, premium or enterprise)", text));
}

Status CheckTransition(ContractState from, ContractState to) {
  for (const auto& [a, b] : kTransitions) {
    if (a == from && b == to) return Status::Ok();
  }
  return FailedPreconditionError(
      fmt::format("a contract cannot go from {} to {}", StateName(from), StateName(to)));
}

uint64_t ContractTerms::epochs() const {
  if (proof_interval_ms <= 0) return 1;
  return std::max<uint64_t>(1, static_cast<uint64_t>(duration_ms / proof_interval_ms));
}

std::string ContractTerms::Encode() const {
  Writer w;
  w.Fixed(kTermsMagic)
      .Fixed(content.digest)
      .U64(size)
      .I64(start_ms)
      .I64(duration_ms)
      .I64(proof_interval_ms)
      .U8(static_cast<uint8_t>(tier))
      .U8(static_cast<uint8_t>(quality))
      .U32(replication)
      .U32(allowed_misses)
      .Fixed(challenge_commitment);
  return w.Take();
}

Result<ContractTerms> ContractTerms::Decode(std::string_view bytes) {
  Reader r(bytes);
  ContractTerms t;
  const bool magic = r.Fixed(kTermsMagic.size()) == kTermsMagic;
  r.Fixed(t.content.digest);
  t.size = r.U64();
  t.start_ms = r.I64();
  t.duration_ms = r.I64();
  t.proof_interval_ms = r.I64();
  const uint8_t tier = r.U8(), quality = r.U8();
  t.replication = r.U32();
  t.allowed_misses = r.U32();
  r.Fixed(t.challenge_commitment);
  if (!magic || !r.done() || tier > 3 || quality > 2) {
    return InvalidArgumentError(
        fmt::format("{} bytes are not contract terms ({})", bytes.size(), kTermsMagic));
  }
  t.tier = static_cast<Tier>(tier);
  t.quality = static_cast<Quality>(quality);
  DEPOT_RETURN_IF_ERROR(t.Validate());
  return t;
}

Status ContractTerms::Validate() const {
  if (duration_ms <= 0) {
    return InvalidArgumentError(fmt::format("a contract of {} ms has no duration", duration_ms));
  }
  if (proof_interval_ms <= 0 || proof_interval_ms > duration_ms) {
    return InvalidArgumentError(
        fmt::format("a proof interval of {} ms is not within the duration of {} ms",
                    proof_interval_ms, duration_ms));
  }
  if (epochs() > kMaxEpochs) {
    return InvalidArgumentError(
        fmt::format("{} proofs ({} ms / {} ms) are over the {} a contract may ask", epochs(),
                    duration_ms, proof_interval_ms, kMaxEpochs));
  }
  if (replication < 1 || replication > 12) {
    return InvalidArgumentError(
        fmt::format("a replication of {} is outside 1..12 (ZHTP's bounds)", replication));
  }
  return Status::Ok();
}

uint64_t Price(const ContractTerms& terms) {
  const long double gib = static_cast<long double>(terms.size) / (1ull << 30);
  const long double days = static_cast<long double>(terms.duration_ms) / kDayMs;
  const long double tokens = kTierPrice[static_cast<int>(terms.tier)] *
                             kQualityMultiplier[static_cast<int>(terms.quality)] * gib * days;
  const long double micro = std::ceil(tokens * 1e6L);
  const long double capped = std::min<long double>(micro, 9e18L);
  return std::max<uint64_t>(static_cast<uint64_t>(capped), terms.epochs());
}

ContractId MakeContractId(const NodeId& client, const NodeId& provider,
                          const ContractTerms& terms) {
  blake3::Hasher hasher = blake3::Hasher::DeriveKey("depot-node 2026 contract id");
  hasher.Update(client.view()).Update(provider.view()).Update(terms.Encode());
  return hasher.Finalize();
}

uint64_t Challenge::Group(uint64_t size) const {
  const uint64_t groups = std::max<uint64_t>(1, (size + cas::kGroupLen - 1) / cas::kGroupLen);
  blake3::Hasher hasher = blake3::Hasher::Keyed(reveal);
  Writer w;
  w.Fixed(contract).U64(epoch);
  hasher.Update(w.str());
  const blake3::Digest digest = hasher.Finalize();
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x |= uint64_t{digest[i]} << (8 * i);
  // 64 random bits modulo a count far below 2^64: the bias is below 2^-40 for any real blob.
  return x % groups;
}

std::pair<uint64_t, uint64_t> Challenge::Range(uint64_t size) const {
  const uint64_t begin = std::min(size, Group(size) * cas::kGroupLen);
  return {begin, std::min(size, begin + cas::kGroupLen)};
}

std::string Challenge::Encode() const {
  Writer w;
  w.Fixed(kChallengeMagic).Fixed(contract).U64(epoch).Fixed(reveal);
  return w.Take();
}

Result<Challenge> Challenge::Decode(std::string_view bytes) {
  Reader r(bytes);
  Challenge c;
  const bool magic = r.Fixed(kChallengeMagic.size()) == kChallengeMagic;
  r.Fixed(c.contract);
  c.epoch = r.U64();
  r.Fixed(c.reveal);
  if (!magic || !r.done()) {
    return InvalidArgumentError(
        fmt::format("{} bytes are not a challenge ({})", bytes.size(), kChallengeMagic));
  }
  return c;
}

bool ChainLeadsTo(const ChainLink& reveal, const ChainLink& later, uint64_t steps) {
  ChainLink link = reveal;
  for (uint64_t i = 0; i < steps; ++i) link = HashLink(link);
  return link == later;
}

ChallengeChain ChallengeChain::Make(uint64_t epochs) {
  ChainLink secret;
  if (RAND_bytes(secret.data(), secret.size()) != 1) std::abort();  // no randomness
  return ChallengeChain(secret, epochs);
}

ChallengeChain ChallengeChain::FromSecret(const ChainLink& secret, uint64_t epochs) {
  return ChallengeChain(secret, epochs);
}

ChainLink ChallengeChain::Link(uint64_t n) const {
  ChainLink link = secret_;
  for (uint64_t i = 0; i < n; ++i) link = HashLink(link);
  return link;
}

ChainLink ChallengeChain::commitment() const { return Link(epochs_); }

Challenge ChallengeChain::ChallengeFor(const ContractId& contract, uint64_t epoch) const {
  return Challenge{contract, epoch, Link(epochs_ - std::min(epoch, epochs_))};
}

}  // namespace depot::node
