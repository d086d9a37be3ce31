// depot::node::Ledger: a node's book of its storage contracts, the proofs checked under them, and
// the accounts they move: persisted in the node's kv store, so a restart keeps all of it.
//
//   DEPOT_ASSIGN_OR_RETURN(auto ledger, node::Ledger::Open(kv, keys.id(), {.initial_balance = b}));
//   DEPOT_RETURN_IF_ERROR(ledger->Propose(record));                      // escrow locked, draft
//   DEPOT_RETURN_IF_ERROR(ledger->Transition(id, ContractState::kActive, "accepted"));
//   DEPOT_ASSIGN_OR_RETURN(ProofRecord proof, ledger->RecordProof(id, epoch, group, passed, why));
//
// Contract:
//   - Each node keeps its own book (depot has no chain): a client's book is the authority on what
//     it escrowed, released and charged; a provider's book records the same contracts from its
//     side (what it accepted and answered). Amounts are micro-tokens.
//   - Propose locks the contract's price from the proposer's balance (kResourceExhausted naming
//     both amounts if it has less) and records the contract as a draft. Every change of state goes
//     through CheckTransition (contract.h): a forbidden one is kFailedPrecondition and changes
//     nothing. Ending a contract early (terminated, expired, breached) returns the escrow not yet
//     released to the client; completing it releases the rest to the provider.
//   - A client that cannot reach a provider for a challenge moves the contract to kDisputed
//     (Transition) instead of failing it; RecordProof on a disputed contract settles the dispute
//     (back to kActive, then on as below, to kBreached if that failure breaches it).
//   - RecordProof (client side), once per epoch (a second record for the same epoch, or one for
//     an epoch past the end, is kFailedPrecondition): a pass releases price / epochs (the last
//     epoch the remainder) to the provider and raises its reputation; a failure returns that share
//     to the client, moves a penalty of the same amount from the provider to the client and
//     lowers the provider's reputation; the failure that exceeds the misses allowed breaches the
//     contract; the last epoch completes it.
//     Reputation moves by r += (1 - r) / 20 on a pass and r *= 0.8 on a failure, from 0.5.
//   - Every operation is one atomic kv commit with Durability::kSync: acknowledged changes
//     survive kill -9 and power loss, and a crash never leaves half of one. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "depot/core/mutex.h"
#include "depot/core/result.h"
#include "depot/kv/store.h"
#include "depot/node/contract.h"

namespace depot::node {

enum class Role : uint8_t { kClient = 0, kProvider = 1 };

struct ContractRecord {
  ContractId id{};
  NodeId client;
  NodeId provider;
  ContractTerms terms;
  Role role = Role::kClient;  // which side of it this book's node is
  ContractState state = ContractState::kDraft;
  std::string provider_endpoint;
  uint64_t price = 0;
  uint64_t escrow = 0;     // locked and not yet released or returned
  uint64_t paid = 0;       // released to the provider
  uint64_t penalties = 0;  // charged to the provider
  uint32_t passed = 0;
  uint32_t failed = 0;
  uint64_t last_epoch = 0;  // the last epoch proven (or failed)
  ChainLink chain{};        // client: the challenge chain's secret; provider: the last reveal
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  std::string note;  // why the last change of state happened

  std::string Encode() const;
  static Result<ContractRecord> Decode(std::string_view bytes);
};

struct ProofRecord {
  ContractId contract{};
  uint64_t epoch = 0;
  uint64_t group = 0;  // the leaf group challenged
  bool passed = false;
  int64_t at_ms = 0;
  uint64_t released = 0;
  uint64_t penalty = 0;
  std::string detail;

  std::string Encode() const;
  static Result<ProofRecord> Decode(std::string_view bytes);
};

struct Account {
  NodeId node;
  int64_t balance = 0;  // micro-tokens; a provider's may go below 0 with penalties
  uint64_t escrowed = 0;
  double reputation = 0.5;
  uint64_t passed = 0;
  uint64_t failed = 0;
};

struct LedgerOptions {
  int64_t initial_balance = 1'000'000'000'000;  // a million tokens, for the node's own account
};

class Ledger {
 public:
  // Creates the spaces node_contracts, node_proofs and node_accounts where missing.
  static Result<std::unique_ptr<Ledger>> Open(std::shared_ptr<kv::Store> store, NodeId self,
                                              LedgerOptions options = {});

  // Client side: records `record` (a draft, role kClient) and locks its price.
  Status Propose(ContractRecord record);
  // Provider side: records a contract this node accepted (role kProvider, state kActive).
  Status Accept(ContractRecord record);
  Status Transition(const ContractId& id, ContractState to, std::string note);
  Result<ProofRecord> RecordProof(const ContractId& id, uint64_t epoch, uint64_t group, bool passed,
                                  std::string detail);
  // Provider side: remembers the last chain value verified, and the epoch it answered.
  Status RecordAnswer(const ContractId& id, uint64_t epoch, const ChainLink& reveal);

  Result<ContractRecord> Get(const ContractId& id);
  Result<std::vector<ContractRecord>> Contracts();
  // The proofs of one contract, or of all (nullopt), in contract and epoch order.
  Result<std::vector<ProofRecord>> Proofs(std::optional<ContractId> id = std::nullopt);
  Result<Account> AccountOf(const NodeId& node);

 private:
  Ledger(std::shared_ptr<kv::Store> store, NodeId self, LedgerOptions options);
  // One operation's changes: the accounts it touched (read once, written at the end) and its
  // batch, committed as one.
  struct Change;
  // Valid terms, and an id that is the hash of the parties and terms.
  static Status CheckTerms(const ContractRecord& record);
  // kAlreadyExists when the book has the contract.
  Status CheckNew(const ContractId& id) DEPOT_REQUIRES(mu_);
  Result<Account> LoadAccount(const NodeId& node) DEPOT_REQUIRES(mu_);
  Result<Account*> Touch(Change& change, const NodeId& node) DEPOT_REQUIRES(mu_);
  Status Commit(Change& change) DEPOT_REQUIRES(mu_);
  Result<ContractRecord> Load(const ContractId& id) DEPOT_REQUIRES(mu_);
  // Sets the state, moving the money that state change moves.
  Status ApplyState(ContractRecord& record, ContractState to, std::string note, Change& change)
      DEPOT_REQUIRES(mu_);

  const std::shared_ptr<kv::Store> store_;
  const NodeId self_;
  const LedgerOptions options_;
  Mutex mu_;
};

std::string ContractIdHex(const ContractId& id);
Result<ContractId> ParseContractId(std::string_view hex);

}  // namespace depot::node
