#include "depot/node/node.h"

#include <gmock/gmock.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "depot/core/testing/eventually.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/open.h"
#include "depot/node/testing/local_link.h"
#include "depot/node/testing/stop_all.h"
#include "depot/object/open.h"

namespace depot::node {
namespace {

using ::depot::testing::Eventually;
using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using namespace std::chrono_literals;

// Nodes of one process on the simulated network, reaching each other's endpoints directly.
class Network {
 public:
  explicit Network(SimNetworkOptions sim = {}) : net_(sim) {}
  ~Network() {
    testing::StopAll(nodes_, [](auto& node) { node->Stop(); });
  }

  NodeOptions Options() const {
    NodeOptions options;
    options.dht.record_ttl = 20s;
    options.dht.unlimited_requests = true;
    options.dht.request_timeout = 10s;
    options.announce_interval = 5s;
    options.repair_interval = 1s;
    options.contract_duration = 1h;
    options.proof_interval = 1h;  // challenges are run by hand (ChallengeNow) unless a test says
    options.transfer_slice = 64 << 10;
    return options;
  }

  // Starts a node; `ledger` (a kv URL) keeps its book where a test restarts it.
  Node& Add(NodeOptions options, std::string ledger = "mem://") {
    const int i = static_cast<int>(nodes_.size());
    NodeParts parts;
    parts.blobs = *cas::BlobStore::Open(*object::Open("mem://"), *kv::Open("mem://"));
    blobs_.push_back(parts.blobs);
    parts.ledger_store = *kv::Open(ledger);
    parts.transport = net_.Attach();
    options.endpoint = fmt::format("node-{}", i);
    parts.link = link_->From(options.endpoint);
    if (!nodes_.empty()) options.dht.bootstrap = {nodes_[0]->dht_address()};
    auto node = Node::Start(std::move(parts), options);
    EXPECT_THAT(node.status(), IsOk());
    link_->Add(options.endpoint, node->get());
    nodes_.push_back(std::move(*node));
    return *nodes_.back();
  }
  Node& Add() { return Add(Options()); }
  Node& operator[](size_t i) { return *nodes_[i]; }
  size_t size() const { return nodes_.size(); }
  void Kill(size_t i) {
    link_->Remove(fmt::format("node-{}", i));
    nodes_[i]->Stop();
  }
  // Waits until the directory, as nodes see it (every node of a small network, five of a large
  // one), lists at least `n` nodes.
  bool Joined(size_t n) {
    return Eventually([&] {
      const size_t step = std::max<size_t>(1, nodes_.size() / 5);
      for (size_t i = 0; i < nodes_.size(); i += step) {
        auto closest = nodes_[i]->Closest(std::string(32, '\0'), n);
        if (!closest.ok() || closest->size() < n) return false;
      }
      return true;
    });
  }
  // Cuts the network in two, for the DHT's datagrams and the endpoints alike: the nodes
  // [0, split) and [split, size()).
  void Partition(size_t split) {
    std::vector<std::vector<Address>> addresses(2);
    std::vector<std::vector<std::string>> endpoints(2);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      addresses[i < split ? 0 : 1].push_back(nodes_[i]->dht_address());
      endpoints[i < split ? 0 : 1].push_back(fmt::format("node-{}", i));
    }
    net_.Partition(addresses);
    link_->Partition(endpoints);
  }
  void Heal() {
    net_.Heal();
    link_->Heal();
  }
  size_t IndexOf(const NodeId& id) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i]->id() == id) return i;
    }
    return nodes_.size();
  }
  size_t LiveProviders(size_t asker, const cas::ContentId& id) {
    auto providers = nodes_[asker]->Providers(id);
    return providers.ok() ? providers->size() : 0;
  }
  SimNetwork& sim() { return net_; }
  cas::BlobStore& blobs(size_t i) { return *blobs_[i]; }

 private:
  SimNetwork net_;
  std::shared_ptr<testing::LocalPeerLink> link_ = std::make_shared<testing::LocalPeerLink>();
  std::vector<std::shared_ptr<cas::BlobStore>> blobs_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST(NodeTest, StartRefusesBadOptionsNamingTheValue) {
  SimNetwork net;
  auto start = [&](auto change) {
    NodeParts parts;
    parts.blobs = *cas::BlobStore::Open(*object::Open("mem://"), *kv::Open("mem://"));
    parts.ledger_store = *kv::Open("mem://");
    parts.transport = net.Attach();
    NodeOptions options;
    options.endpoint = "127.0.0.1:1";
    change(options);
    return Node::Start(std::move(parts), options).status();
  };
  EXPECT_THAT(start([](NodeOptions& o) { o.endpoint = ""; }),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("endpoint \"\"")));
  EXPECT_THAT(start([](NodeOptions& o) { o.replication = 13; }),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("13")));
  EXPECT_THAT(start([](NodeOptions& o) { o.transfer_slice = 100; }),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("100 bytes")));
  EXPECT_THAT(start([](NodeOptions& o) { o.dispute_window = -5ms; }),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("-5 ms")));
  EXPECT_THAT(start([](NodeOptions& o) { o.dht.record_ttl = 5s; }),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(NodeTest, APutIsHeldByThreeNodesUnderContractAndReadableAnywhere) {
  Network net;
  for (int i = 0; i < 5; ++i) net.Add();
  ASSERT_TRUE(net.Joined(5));
  const std::string data = RandomBytes(200'000, 1);
  auto put = net[0].Put(data);
  ASSERT_THAT(put.status(), IsOk());
  ASSERT_EQ(put->contracts.size(), 2u);  // replication 3: this node and two providers
  for (const ContractRecord& contract : put->contracts) {
    EXPECT_EQ(contract.state, ContractState::kActive);
    EXPECT_EQ(contract.client, net[0].id());
  }
  // Providers announce without waiting for the DHT: their records land within moments.
  EXPECT_TRUE(Eventually([&] { return net.LiveProviders(4, put->id) == 3; }, 10s));
  // A node that holds nothing fetches it from a provider, verified.
  for (size_t i = 1; i < 5; ++i) {
    auto got = net[i].Get(put->id);
    ASSERT_THAT(got.status(), IsOk()) << i;
    EXPECT_EQ(*got, data);
  }
  EXPECT_THAT(net[3].Get(cas::ContentId{blake3::Hash("never stored")}).status(),
              StatusIs(StatusCode::kNotFound));
}

TEST(NodeTest, ABlobStreamedIntoTheStoreIsDistributedAndStreamedOut) {
  Network net;
  for (int i = 0; i < 4; ++i) net.Add();
  ASSERT_TRUE(net.Joined(4));
  const std::string data = RandomBytes(150'000, 5);
  auto writer = net.blobs(0).OpenWriter();
  ASSERT_THAT(writer.status(), IsOk());
  for (size_t at = 0; at < data.size(); at += 40'000) {
    ASSERT_THAT((*writer)->Write(std::string_view(data).substr(at, 40'000)), IsOk());
  }
  auto stored = (*writer)->Finish();
  ASSERT_THAT(stored.status(), IsOk());
  auto put = net[0].Distribute(stored->id);
  ASSERT_THAT(put.status(), IsOk());
  EXPECT_EQ(put->size, data.size());
  EXPECT_EQ(put->contracts.size(), 2u);
  std::string streamed;
  ASSERT_THAT(net[3].Read(stored->id,
                          [&](std::string_view bytes) {
                            streamed.append(bytes);
                            return Status::Ok();
                          }),
              IsOk());
  EXPECT_EQ(streamed, data);
  EXPECT_THAT(net[0].Distribute(cas::ContentId{blake3::Hash("never stored")}).status(),
              StatusIs(StatusCode::kNotFound));
}

TEST(NodeTest, AKilledHolderIsReplacedAndTheCountRestored) {
  Network net;
  for (int i = 0; i < 6; ++i) net.Add();
  ASSERT_TRUE(net.Joined(6));
  auto put = net[0].Put(RandomBytes(100'000, 2));
  ASSERT_THAT(put.status(), IsOk());
  ASSERT_TRUE(Eventually([&] { return net.LiveProviders(5, put->id) == 3; }, 10s));
  // Kill one provider: its records expire (3 s), and a remaining holder contracts another node.
  size_t victim = 0;
  for (size_t i = 1; i < 6; ++i) {
    if (net[i].id() == put->contracts[0].provider) victim = i;
  }
  ASSERT_NE(victim, 0u);
  net.Kill(victim);
  const size_t asker = victim == 5 ? 4 : 5;
  ASSERT_TRUE(Eventually([&] {
    auto providers = net[asker].Providers(put->id);
    if (!providers.ok() || providers->size() != 3) return false;
    for (const ProviderRecord& p : *providers) {
      if (p.provider == net[victim].id()) return false;
    }
    return true;
  })) << "the count was not restored without the killed node";
}

TEST(NodeTest, AProviderThatDroppedTheBlobFailsItsChallengeAndIsPenalised) {
  Network net;
  NodeOptions options = net.Options();
  options.replication = 2;
  options.allowed_misses = 0;
  options.proof_interval = 300ms;  // a challenge every 300 ms
  options.contract_duration = 1h;
  for (int i = 0; i < 3; ++i) net.Add(options);
  ASSERT_TRUE(net.Joined(3));
  auto put = net[0].Put(RandomBytes(300'000, 3));
  ASSERT_THAT(put.status(), IsOk());
  ASSERT_EQ(put->contracts.size(), 1u);
  const ContractId contract = put->contracts[0].id;
  // Honest first: proofs pass and pay.
  ASSERT_TRUE(Eventually([&] { return net[0].ledger().Get(contract)->passed >= 2; }));
  const Account before = *net[0].ledger().AccountOf(put->contracts[0].provider);
  EXPECT_GT(before.balance, 0);

  // The provider loses the blob (collected behind its node's back) and fails the next challenge:
  // no passed proof pays it any more, the failure costs it a penalty, and with no misses allowed
  // the contract is breached and the rest of the escrow goes back to the client.
  const size_t provider = net[1].id() == put->contracts[0].provider ? 1 : 2;
  ASSERT_THAT(net.blobs(provider).Unpin(put->id).status(), IsOk());
  ASSERT_THAT(net.blobs(provider).CollectGarbage().status(), IsOk());
  ASSERT_TRUE(
      Eventually([&] { return net[0].ledger().Get(contract)->state == ContractState::kBreached; }));
  const ContractRecord after = *net[0].ledger().Get(contract);
  EXPECT_EQ(after.failed, 1u);
  EXPECT_EQ(after.escrow, 0u);
  const Account penalised = *net[0].ledger().AccountOf(put->contracts[0].provider);
  EXPECT_LT(penalised.balance, before.balance);
  EXPECT_LT(penalised.reputation, before.reputation);
  auto proofs = net[0].ledger().Proofs(contract);
  ASSERT_THAT(proofs.status(), IsOk());
  ASSERT_FALSE(proofs->empty());
  EXPECT_FALSE(proofs->back().passed);
  EXPECT_THAT(proofs->back().detail, ::testing::HasSubstr("refused"));
  // The provider's own book ends the contract too, told by the client.
  EXPECT_TRUE(Eventually(
      [&] { return net[provider].ledger().Get(contract)->state == ContractState::kBreached; }));
}

TEST(NodeTest, AProviderSilentPastTheDisputeWindowFailsEveryEpochDue) {
  Network net;
  NodeOptions options = net.Options();
  options.replication = 2;
  options.allowed_misses = 1000;   // counted, not breached
  options.proof_interval = 300ms;  // a challenge every 300 ms
  options.dispute_window = 2s;
  for (int i = 0; i < 3; ++i) net.Add(options);
  ASSERT_TRUE(net.Joined(3));
  auto put = net[0].Put(RandomBytes(40'000, 6));
  ASSERT_THAT(put.status(), IsOk());
  const ContractId contract = put->contracts.at(0).id;
  ASSERT_TRUE(Eventually([&] { return net[0].ledger().Get(contract)->passed >= 1; }));
  net.Kill(net.IndexOf(put->contracts[0].provider));
  // Unreachable: disputed, nothing failed yet.
  ASSERT_TRUE(Eventually(
      [&] { return net[0].ledger().Get(contract)->state == ContractState::kDisputed; }, 10s));
  EXPECT_EQ(net[0].ledger().Get(contract)->failed, 0u);
  // Past the window: every epoch that fell due in it fails at once (about 2 s / 300 ms).
  ASSERT_TRUE(Eventually([&] { return net[0].ledger().Get(contract)->failed >= 5; }, 15s));
  auto proofs = net[0].ledger().Proofs(contract);
  ASSERT_THAT(proofs.status(), IsOk());
  EXPECT_THAT(proofs->back().detail, ::testing::HasSubstr("past the window"));
}

TEST(NodeTest, ARestartKeepsTheLedgerAndTheBlobsItProvides) {
  ::depot::testing::TempDir dir;
  const std::string ledger = "rocksdb://" + (dir.path() / "ledger").string();
  ContractId contract{};
  {
    Network net;
    net.Add(net.Options(), ledger);
    for (int i = 0; i < 2; ++i) net.Add();
    ASSERT_TRUE(net.Joined(3));
    auto put = net[0].Put(RandomBytes(50'000, 4));
    ASSERT_THAT(put.status(), IsOk());
    contract = put->contracts.at(0).id;
  }
  auto store = kv::Open(ledger);
  ASSERT_THAT(store.status(), IsOk());
  auto reopened = Ledger::Open(*store, NodeId{});
  ASSERT_THAT(reopened.status(), IsOk());
  auto record = (*reopened)->Get(contract);
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_EQ(record->state, ContractState::kActive);
  EXPECT_EQ(record->role, Role::kClient);
}

// A hundred nodes in one process: every blob is found from anywhere, and when ten nodes die the
// holders restore three copies of each.
void HundredNodesKeepEveryBlobReplicated(double loss) {
  Network net({.min_latency = 200us, .max_latency = 2ms, .loss = loss});
  NodeOptions options = net.Options();
  for (int i = 0; i < 100; ++i) net.Add(options);
  ASSERT_TRUE(net.Joined(20));
  std::vector<cas::ContentId> ids;
  for (int k = 0; k < 10; ++k) {
    auto put = net[k * 7 % 100].Put(RandomBytes(20'000 + k, 100 + k));
    ASSERT_THAT(put.status(), IsOk()) << k;
    ids.push_back(put->id);
  }
  for (int k = 0; k < 10; ++k) {
    auto got = net[(k * 13 + 50) % 100].Get(ids[k]);
    ASSERT_THAT(got.status(), IsOk()) << k;
    EXPECT_EQ(*got, RandomBytes(20'000 + k, 100 + k));
  }
  // Ten nodes die, holders among them. Repair gets 420 s: with 1 % loss, beside the other
  // integration tests on two cores, a fresh-clone run needed more than 240 s (the test's TIMEOUT
  // is 600 s).
  std::set<size_t> dead;
  for (size_t i = 1; dead.size() < 10; i += 9) dead.insert(i);
  for (size_t i : dead) net.Kill(i);
  ASSERT_TRUE(Eventually(
      [&] {
        for (const cas::ContentId& id : ids) {
          auto providers = net[0].Providers(id);
          if (!providers.ok()) return false;
          size_t live = 0;
          for (const ProviderRecord& p : *providers) {
            bool is_dead = false;
            for (size_t i : dead) is_dead |= net[i].id() == p.provider;
            live += is_dead ? 0 : 1;
          }
          if (live < 3) return false;
        }
        return true;
      },
      420s))
      << "replication was not restored";
  if (loss > 0) {
    EXPECT_GT(net.sim().stats().lost, 0u);
  }
}

// A hundred nodes cut 60/40: each side still finds what it holds, and a client whose provider
// is on the other side disputes the contract instead of penalising it; once healed, the
// disputes settle as passed proofs, every blob is read from anywhere, and three copies hold.
TEST(NodeSimulationTest, HundredNodesAcrossAPartition) {
  Network net({.min_latency = 200us, .max_latency = 2ms});
  NodeOptions options = net.Options();
  options.proof_interval = 2s;  // the clients challenge every 2 s on their own
  options.dispute_window = 1h;
  for (int i = 0; i < 100; ++i) net.Add(options);
  ASSERT_TRUE(net.Joined(20));
  struct Stored {
    cas::ContentId id;
    size_t client;
    std::vector<ContractRecord> contracts;
  };
  std::vector<Stored> stored;
  for (int k = 0; k < 10; ++k) {
    const size_t client = k * 11 % 100;
    auto put = net[client].Put(RandomBytes(30'000 + k, 200 + k));
    ASSERT_THAT(put.status(), IsOk()) << k;
    stored.push_back({put->id, client, put->contracts});
  }
  auto side = [](size_t i) { return i < 60 ? 0 : 1; };
  net.Partition(60);

  // Every blob is read on each side that has a holder of it, by a node that does not hold it.
  size_t reads = 0;
  for (size_t k = 0; k < stored.size(); ++k) {
    const Stored& s = stored[k];
    std::set<size_t> holders = {s.client};
    for (const ContractRecord& c : s.contracts) holders.insert(net.IndexOf(c.provider));
    for (int half = 0; half < 2; ++half) {
      bool held = false;
      for (size_t h : holders) held |= side(h) == half;
      if (!held) continue;
      size_t reader = half == 0 ? 0 : 60;
      while (holders.count(reader) != 0) ++reader;
      std::string got;
      EXPECT_TRUE(Eventually(
          [&] {
            auto read = net[reader].Get(s.id);
            if (read.ok()) got = *read;
            return read.ok();
          },
          60s))
          << "node " << reader << " did not read " << s.id.ToHex();
      EXPECT_EQ(got, RandomBytes(30'000 + k, 200 + k));
      ++reads;
    }
  }
  EXPECT_GE(reads, 10u);

  // Contracts across the cut are disputed, none failed; those within a side keep passing.
  std::vector<std::pair<size_t, ContractId>> across;
  for (const Stored& s : stored) {
    for (const ContractRecord& c : s.contracts) {
      if (side(s.client) != side(net.IndexOf(c.provider))) across.emplace_back(s.client, c.id);
    }
  }
  ASSERT_FALSE(across.empty());
  EXPECT_TRUE(Eventually(
      [&] {
        for (const auto& [client, id] : across) {
          if (net[client].ledger().Get(id)->state != ContractState::kDisputed) return false;
        }
        return true;
      },
      60s))
      << "a contract across the partition was not disputed";
  for (const Stored& s : stored) {
    for (const ContractRecord& c : s.contracts) {
      EXPECT_EQ(net[s.client].ledger().Get(c.id)->failed, 0u);
    }
  }

  std::map<ContractId, uint32_t> passed_before;
  for (const auto& [client, id] : across) passed_before[id] = net[client].ledger().Get(id)->passed;
  net.Heal();
  EXPECT_TRUE(Eventually(
      [&] {
        for (const auto& [client, id] : across) {
          const ContractRecord record = *net[client].ledger().Get(id);
          if (record.state != ContractState::kActive || record.passed <= passed_before[id]) {
            return false;
          }
        }
        return true;
      },
      60s))
      << "the disputes did not settle once healed";
  for (const Stored& s : stored) {
    for (const ContractRecord& c : s.contracts) {
      EXPECT_EQ(net[s.client].ledger().Get(c.id)->failed, 0u);
    }
    // Three live copies, as nodes on either side and the client see them (lookups that cross
    // the healed cut wait until the two halves' routing tables have met again).
    EXPECT_TRUE(Eventually(
        [&] {
          std::set<NodeId> live;
          for (size_t asker : {size_t{0}, size_t{60}, s.client}) {
            auto providers = net[asker].Providers(s.id);
            if (!providers.ok()) continue;
            for (const ProviderRecord& p : *providers) live.insert(p.provider);
          }
          return live.size() >= 3;
        },
        60s));
    // A node across the healed cut from the client reads it, once its lookups reach a holder.
    Status read = NotFoundError(s.id.ToHex());
    EXPECT_TRUE(Eventually(
        [&] {
          read = net[(s.client + 50) % 100].Get(s.id).status();
          return read.ok();
        },
        60s))
        << read;
  }
}

TEST(NodeSimulationTest, HundredNodesKeepEveryBlobReplicated) {
  HundredNodesKeepEveryBlobReplicated(0);
}

TEST(NodeSimulationTest, HundredNodesWithLossKeepEveryBlobReplicated) {
  HundredNodesKeepEveryBlobReplicated(0.01);
}

}  // namespace
}  // namespace depot::node
