#include "depot/node/ledger.h"

#include <fmt/format.h>

#include "depot/core/hex.h"
#include "depot/node/codec.h"
#include "depot/node/wire.h"

namespace depot::node {
namespace {

constexpr std::string_view kContracts = "node_contracts";
constexpr std::string_view kProofs = "node_proofs";
constexpr std::string_view kAccounts = "node_accounts";
constexpr uint8_t kRecordVersion = 1;

std::string Key(const ContractId& id) { return {reinterpret_cast<const char*>(id.data()), 32}; }

std::string ProofKey(const ContractId& id, uint64_t epoch) {
  std::string key = Key(id);
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>(epoch >> (8 * i)));  // big-endian
  return key;
}

std::string EncodeAccount(const Account& a) {
  Writer w;
  w.U8(kRecordVersion).I64(a.balance).U64(a.escrowed).F64(a.reputation).U64(a.passed).U64(a.failed);
  return w.Take();
}

Result<Account> DecodeAccount(const NodeId& node, std::string_view bytes) {
  Reader r(bytes);
  Account a{.node = node};
  const uint8_t version = r.U8();
  a.balance = r.I64();
  a.escrowed = r.U64();
  a.reputation = r.F64();
  a.passed = r.U64();
  a.failed = r.U64();
  if (version != kRecordVersion || !r.done()) {
    return DataLossError(fmt::format("the ledger's account of node {} is damaged", node.Short()));
  }
  return a;
}

}  // namespace

std::string ContractIdHex(const ContractId& id) { return HexEncode(id); }

Result<ContractId> ParseContractId(std::string_view hex) {
  ContractId id;
  if (!HexDecode(hex, id)) {
    return InvalidArgumentError(
        fmt::format("\"{}\" is not a contract id (64 hex digits)", hex.substr(0, 80)));
  }
  return id;
}

std::string ContractRecord::Encode() const {
  Writer w;
  w.U8(kRecordVersion)
      .Fixed(id)
      .Fixed(client.bytes)
      .Fixed(provider.bytes)
      .Bytes(terms.Encode())
      .U8(static_cast<uint8_t>(role))
      .U8(static_cast<uint8_t>(state))
      .Bytes(provider_endpoint)
      .U64(price)
      .U64(escrow)
      .U64(paid)
      .U64(penalties)
      .U32(passed)
      .U32(failed)
      .U64(last_epoch)
      .Fixed(chain)
      .I64(created_ms)
      .I64(updated_ms)
      .Bytes(note);
  return w.Take();
}

Result<ContractRecord> ContractRecord::Decode(std::string_view bytes) {
  Reader r(bytes);
  ContractRecord c;
  const uint8_t version = r.U8();
  r.Fixed(c.id);
  r.Fixed(c.client.bytes);
  r.Fixed(c.provider.bytes);
  const std::string_view terms = r.Bytes(1024);
  const uint8_t role = r.U8(), state = r.U8();
  c.provider_endpoint = std::string(r.Bytes(kMaxEndpoint));
  c.price = r.U64();
  c.escrow = r.U64();
  c.paid = r.U64();
  c.penalties = r.U64();
  c.passed = r.U32();
  c.failed = r.U32();
  c.last_epoch = r.U64();
  r.Fixed(c.chain);
  c.created_ms = r.I64();
  c.updated_ms = r.I64();
  c.note = std::string(r.Bytes(4096));
  auto decoded = ContractTerms::Decode(terms);
  if (version != kRecordVersion || !r.done() || role > 1 || state > 6 || !decoded.ok()) {
    return DataLossError(fmt::format("the ledger's record of contract {} is damaged",
                                     ContractIdHex(c.id).substr(0, 12)));
  }
  c.terms = *decoded;
  c.role = static_cast<Role>(role);
  c.state = static_cast<ContractState>(state);
  return c;
}

std::string ProofRecord::Encode() const {
  Writer w;
  w.U8(kRecordVersion)
      .Fixed(contract)
      .U64(epoch)
      .U64(group)
      .U8(passed ? 1 : 0)
      .I64(at_ms)
      .U64(released)
      .U64(penalty)
      .Bytes(detail);
  return w.Take();
}

Result<ProofRecord> ProofRecord::Decode(std::string_view bytes) {
  Reader r(bytes);
  ProofRecord p;
  const uint8_t version = r.U8();
  r.Fixed(p.contract);
  p.epoch = r.U64();
  p.group = r.U64();
  p.passed = r.U8() == 1;
  p.at_ms = r.I64();
  p.released = r.U64();
  p.penalty = r.U64();
  p.detail = std::string(r.Bytes(4096));
  if (version != kRecordVersion || !r.done()) {
    return DataLossError("a proof record of the ledger is damaged");
  }
  return p;
}

Ledger::Ledger(std::shared_ptr<kv::Store> store, NodeId self, LedgerOptions options)
    : store_(std::move(store)), self_(self), options_(options) {}

Result<std::unique_ptr<Ledger>> Ledger::Open(std::shared_ptr<kv::Store> store, NodeId self,
                                             LedgerOptions options) {
  if (store == nullptr) return InvalidArgumentError("a ledger needs a kv store");
  for (std::string_view space : {kContracts, kProofs, kAccounts}) {
    DEPOT_RETURN_IF_ERROR(store->CreateSpace(space));
  }
  return std::unique_ptr<Ledger>(new Ledger(std::move(store), self, options));
}

Result<Account> Ledger::LoadAccount(const NodeId& node) {
  DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> bytes, store_->Get(kAccounts, node.view()));
  if (!bytes) {
    return Account{.node = node, .balance = node == self_ ? options_.initial_balance : 0};
  }
  return DecodeAccount(node, *bytes);
}

struct Ledger::Change {
  std::map<NodeId, Account> accounts;
  kv::WriteBatch batch;
};

Result<Account*> Ledger::Touch(Change& change, const NodeId& node) {
  auto it = change.accounts.find(node);
  if (it == change.accounts.end()) {
    DEPOT_ASSIGN_OR_RETURN(Account account, LoadAccount(node));
    it = change.accounts.emplace(node, account).first;
  }
  return &it->second;
}

Status Ledger::Commit(Change& change) {
  for (const auto& [node, account] : change.accounts) {
    change.batch.Put(kAccounts, node.view(), EncodeAccount(account));
  }
  return store_->Commit(change.batch);
}

Result<ContractRecord> Ledger::Load(const ContractId& id) {
  DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> bytes, store_->Get(kContracts, Key(id)));
  if (!bytes) {
    return NotFoundError(fmt::format("no contract {} in this node's ledger", ContractIdHex(id)));
  }
  return ContractRecord::Decode(*bytes);
}

Status Ledger::CheckTerms(const ContractRecord& record) {
  DEPOT_RETURN_IF_ERROR(record.terms.Validate());
  if (record.id != MakeContractId(record.client, record.provider, record.terms)) {
    return InvalidArgumentError("the contract's id is not the hash of its parties and terms");
  }
  return Status::Ok();
}

Status Ledger::CheckNew(const ContractId& id) {
  DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> existing, store_->Get(kContracts, Key(id)));
  if (existing) return AlreadyExistsError(fmt::format("contract {} exists", ContractIdHex(id)));
  return Status::Ok();
}

Status Ledger::Propose(ContractRecord record) {
  DEPOT_RETURN_IF_ERROR(CheckTerms(record));
  MutexLock lock(mu_);
  DEPOT_RETURN_IF_ERROR(CheckNew(record.id));
  Change change;
  DEPOT_ASSIGN_OR_RETURN(Account * client, Touch(change, self_));
  record.price = Price(record.terms);
  if (client->balance < static_cast<int64_t>(record.price)) {
    return ResourceExhaustedError(fmt::format(
        "a contract of {} micro-tokens is over the balance of {}", record.price, client->balance));
  }
  client->balance -= static_cast<int64_t>(record.price);
  client->escrowed += record.price;
  record.role = Role::kClient;
  record.state = ContractState::kDraft;
  record.escrow = record.price;
  record.created_ms = record.updated_ms = NowMs();
  change.batch.Put(kContracts, Key(record.id), record.Encode());
  return Commit(change);
}

Status Ledger::Accept(ContractRecord record) {
  DEPOT_RETURN_IF_ERROR(CheckTerms(record));
  MutexLock lock(mu_);
  DEPOT_RETURN_IF_ERROR(CheckNew(record.id));
  record.role = Role::kProvider;
  record.price = Price(record.terms);
  record.escrow = record.price;  // held by the client, as this provider understands it
  record.state = ContractState::kActive;
  record.chain = record.terms.challenge_commitment;
  record.created_ms = record.updated_ms = NowMs();
  record.note = "accepted";
  kv::WriteBatch batch;
  batch.Put(kContracts, Key(record.id), record.Encode());
  return store_->Commit(batch);
}

Status Ledger::ApplyState(ContractRecord& record, ContractState to, std::string note,
                          Change& change) {
  DEPOT_RETURN_IF_ERROR(CheckTransition(record.state, to));
  const bool ends = to == ContractState::kCompleted || to == ContractState::kTerminated ||
                    to == ContractState::kExpired || to == ContractState::kBreached;
  if (ends && record.escrow > 0) {
    if (record.role == Role::kClient) {
      DEPOT_ASSIGN_OR_RETURN(Account * client, Touch(change, self_));
      client->escrowed -= std::min(client->escrowed, record.escrow);
      if (to == ContractState::kCompleted) {
        DEPOT_ASSIGN_OR_RETURN(Account * provider, Touch(change, record.provider));
        provider->balance += static_cast<int64_t>(record.escrow);
      } else {
        client->balance += static_cast<int64_t>(record.escrow);
      }
    }
    if (to == ContractState::kCompleted) record.paid += record.escrow;
    record.escrow = 0;
  }
  record.state = to;
  record.note = std::move(note);
  record.updated_ms = NowMs();
  change.batch.Put(kContracts, Key(record.id), record.Encode());
  return Status::Ok();
}

Status Ledger::Transition(const ContractId& id, ContractState to, std::string note) {
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(ContractRecord record, Load(id));
  Change change;
  DEPOT_RETURN_IF_ERROR(ApplyState(record, to, std::move(note), change));
  return Commit(change);
}

Result<ProofRecord> Ledger::RecordProof(const ContractId& id, uint64_t epoch, uint64_t group,
                                        bool passed, std::string detail) {
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(ContractRecord record, Load(id));
  if (record.state != ContractState::kActive && record.state != ContractState::kDisputed) {
    return FailedPreconditionError(fmt::format("contract {} is {}, not active or disputed",
                                               ContractIdHex(id).substr(0, 12),
                                               StateName(record.state)));
  }
  const uint64_t epochs = record.terms.epochs();
  if (epoch <= record.last_epoch || epoch > epochs) {
    return FailedPreconditionError(
        fmt::format("epoch {} of contract {} is not after {} and within its {}", epoch,
                    ContractIdHex(id).substr(0, 12), record.last_epoch, epochs));
  }
  const uint64_t share =
      epoch == epochs ? record.escrow : std::min(record.escrow, record.price / epochs);
  ProofRecord proof{.contract = id,
                    .epoch = epoch,
                    .group = group,
                    .passed = passed,
                    .at_ms = NowMs(),
                    .detail = std::move(detail)};
  Change change;
  DEPOT_ASSIGN_OR_RETURN(Account * provider, Touch(change, record.provider));
  Account* client = nullptr;
  if (record.role == Role::kClient) {
    DEPOT_ASSIGN_OR_RETURN(client, Touch(change, self_));
  }
  record.last_epoch = epoch;
  if (record.state == ContractState::kDisputed) {  // the proof settles the dispute either way
    DEPOT_RETURN_IF_ERROR(CheckTransition(record.state, ContractState::kActive));
    record.state = ContractState::kActive;
    record.note = fmt::format("dispute settled: epoch {} {}", epoch, passed ? "passed" : "failed");
  }
  if (passed) {
    proof.released = share;
    record.passed++;
    record.paid += share;
    record.escrow -= share;
    provider->balance += static_cast<int64_t>(share);
    provider->passed++;
    provider->reputation += (1 - provider->reputation) / 20;
    if (client != nullptr) client->escrowed -= std::min(client->escrowed, share);
  } else {
    proof.penalty = std::max<uint64_t>(share, record.price / epochs);
    record.failed++;
    record.penalties += proof.penalty;
    provider->balance -= static_cast<int64_t>(proof.penalty);
    provider->failed++;
    provider->reputation *= 0.8;
    record.escrow -= share;  // the epoch's share goes back to the client, with the penalty
    if (client != nullptr) {
      client->escrowed -= std::min(client->escrowed, share);
      client->balance += static_cast<int64_t>(share + proof.penalty);
    }
  }
  change.batch.Put(kProofs, ProofKey(id, epoch), proof.Encode());
  if (record.failed > record.terms.allowed_misses) {
    DEPOT_RETURN_IF_ERROR(ApplyState(
        record, ContractState::kBreached,
        fmt::format("{} failed proofs, {} allowed", record.failed, record.terms.allowed_misses),
        change));
  } else if (epoch == epochs) {
    DEPOT_RETURN_IF_ERROR(
        ApplyState(record, ContractState::kCompleted, "every epoch proven", change));
  } else {
    record.updated_ms = NowMs();
    change.batch.Put(kContracts, Key(id), record.Encode());
  }
  DEPOT_RETURN_IF_ERROR(Commit(change));
  return proof;
}

Status Ledger::RecordAnswer(const ContractId& id, uint64_t epoch, const ChainLink& reveal) {
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(ContractRecord record, Load(id));
  record.last_epoch = epoch;
  record.chain = reveal;
  record.updated_ms = NowMs();
  kv::WriteBatch batch;
  batch.Put(kContracts, Key(id), record.Encode());
  return store_->Commit(batch);
}

Result<ContractRecord> Ledger::Get(const ContractId& id) {
  MutexLock lock(mu_);
  return Load(id);
}

Result<std::vector<ContractRecord>> Ledger::Contracts() {
  std::vector<ContractRecord> out;
  DEPOT_ASSIGN_OR_RETURN(auto it, store_->Scan(kContracts));
  for (; it->Valid(); it->Next()) {
    DEPOT_ASSIGN_OR_RETURN(ContractRecord record, ContractRecord::Decode(it->value()));
    out.push_back(std::move(record));
  }
  DEPOT_RETURN_IF_ERROR(it->status());
  return out;
}

Result<std::vector<ProofRecord>> Ledger::Proofs(std::optional<ContractId> id) {
  std::vector<ProofRecord> out;
  DEPOT_ASSIGN_OR_RETURN(auto it, store_->PrefixScan(kProofs, id ? Key(*id) : std::string()));
  for (; it->Valid(); it->Next()) {
    DEPOT_ASSIGN_OR_RETURN(ProofRecord proof, ProofRecord::Decode(it->value()));
    out.push_back(std::move(proof));
  }
  DEPOT_RETURN_IF_ERROR(it->status());
  return out;
}

Result<Account> Ledger::AccountOf(const NodeId& node) {
  MutexLock lock(mu_);
  return LoadAccount(node);
}

}  // namespace depot::node
