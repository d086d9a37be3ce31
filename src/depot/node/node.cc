#include "depot/node/node.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "depot/cas/outboard.h"
#include "depot/core/hex.h"
#include "depot/core/mutex.h"
#include "depot/http/client.h"
#include "depot/node/codec.h"

namespace depot::node {
namespace {

constexpr std::string_view kMessagePath = "/_node/v1/message";
constexpr std::string_view kSlicePath = "/_node/v1/slice/";
// The largest transfer slice, and the largest answer taken from a peer (such a slice with its
// tree: 64 bytes per 16 KiB leaf, and the last leaf).
constexpr uint64_t kMaxTransferSlice = uint64_t{64} << 20;
constexpr uint64_t kMaxSliceResponse = kMaxTransferSlice + (kMaxTransferSlice >> 7) + (1 << 20);
constexpr int64_t kDisputeRetryMs = 30'000;  // or the proof interval, when shorter
constexpr size_t kMaxSources = 16;

std::string Raw(const cas::ContentId& id) {
  return {reinterpret_cast<const char*>(id.digest.data()), id.digest.size()};
}
std::string ProvidersKey(const cas::ContentId& id) { return "depot/providers/" + Raw(id); }
// The directory of nodes is split by the first 4 bits of their ids: a lookup for the nodes
// closest to a target reads the buckets in order of XOR distance from the target's, and stops
// once it has enough.
std::string NodesKey(uint8_t bucket) { return fmt::format("depot/nodes/{:x}", bucket); }
uint8_t BucketOf(std::string_view id) { return static_cast<uint8_t>(id[0]) >> 4; }

EndpointResponse Refusal(int status, const depot::Status& why) {
  return {status, std::string(why.ToString()), "text/plain"};
}

// A decimal number that is the whole of `text`.
std::optional<uint64_t> ParseNumber(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

class HttpLink final : public PeerLink {
 public:
  Result<EndpointResponse> Send(const std::string& endpoint, const EndpointRequest& request,
                                const Context& ctx) override {
    http::Request out{.method = request.method,
                      .url = fmt::format("http://{}{}", endpoint, request.target),
                      .headers = {{"Content-Type", "application/octet-stream"}},
                      .body = Bytes::Copy(request.body)};
    EndpointResponse answer;
    Collect collect(answer.body);  // a 2xx body straight into the answer, sized once
    DEPOT_ASSIGN_OR_RETURN(http::Response response, client_.Send(out, &collect, ctx));
    answer.status = response.status;
    if (!response.body.empty()) answer.body = response.body.ToString();
    if (const std::string* type = response.Find("content-type")) answer.content_type = *type;
    return answer;
  }

 private:
  class Collect final : public http::BodySink {
   public:
    explicit Collect(std::string& body) : body_(body) {}
    Status Begin(const http::Response& head) override {
      const std::string* length = head.Find("content-length");
      const auto n = length != nullptr ? ParseNumber(*length) : std::nullopt;
      if (n && *n <= kMaxSliceResponse) body_.reserve(*n);
      return Status::Ok();
    }
    Status Append(std::string_view data) override {
      if (body_.size() + data.size() > kMaxSliceResponse) {
        return ResourceExhaustedError(
            fmt::format("a node's answer over {} bytes", kMaxSliceResponse));
      }
      body_.append(data);
      return Status::Ok();
    }

   private:
    std::string& body_;
  };

  http::Client client_;
};

// The query parameter `name` of `target` as a number.
std::optional<uint64_t> QueryNumber(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return ParseNumber(pair.substr(eq + 1));
    }
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return std::nullopt;
}

}  // namespace

std::shared_ptr<PeerLink> HttpPeerLink() { return std::make_shared<HttpLink>(); }

bool CloserTo(std::string_view target, const NodeId& a, const NodeId& b) {
  for (size_t i = 0; i < 32; ++i) {
    const uint8_t t = i < target.size() ? static_cast<uint8_t>(target[i]) : 0;
    const uint8_t da = a.bytes[i] ^ t, db = b.bytes[i] ^ t;
    if (da != db) return da < db;
  }
  return false;
}

class Node::Impl {
 public:
  Impl(NodeParts parts, NodeOptions options, std::unique_ptr<Dht> dht,
       std::unique_ptr<Ledger> ledger)
      : keys_(std::move(parts.keys)),
        blobs_(std::move(parts.blobs)),
        link_(parts.link != nullptr ? std::move(parts.link) : HttpPeerLink()),
        options_(std::move(options)),
        dht_(std::move(dht)),
        ledger_(std::move(ledger)) {}

  Status Init() {
    // An offer this node made before it stopped, still a draft: whether the provider accepted
    // it is unknown, and nobody will ask again, so it expires and its escrow comes back.
    DEPOT_ASSIGN_OR_RETURN(std::vector<ContractRecord> contracts, ledger_->Contracts());
    for (const ContractRecord& record : contracts) {
      if (record.role == Role::kClient && record.state == ContractState::kDraft) {
        DEPOT_RETURN_IF_ERROR(
            ledger_->Transition(record.id, ContractState::kExpired,
                                "the node stopped before the provider answered the offer"));
      }
    }
    // What the store holds (pinned) is provided: a restart announces it again.
    std::optional<cas::ContentId> after;
    while (true) {
      DEPOT_ASSIGN_OR_RETURN(std::vector<cas::BlobInfo> page, blobs_->List(after, 1000));
      MutexLock lock(mu_);
      for (const cas::BlobInfo& info : page) {
        if (info.pins > 0) held_[info.id] = info.size;
      }
      if (page.size() < 1000) break;
      after = page.back().id;
    }
    thread_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }

  ~Impl() { Stop(); }

  void Stop() {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.NotifyAll();
    if (thread_.joinable()) thread_.join();
    dht_->Stop();
  }

  const NodeId& id() const { return keys_.id(); }
  Address dht_address() const { return dht_->address(); }
  void Bootstrap(const Address& peer) { dht_->Bootstrap(peer); }
  Ledger& ledger() { return *ledger_; }

  // --- putting and getting ---

  Result<PutOutcome> Put(std::string_view data, const Context& ctx) {
    DEPOT_ASSIGN_OR_RETURN(cas::PutBlobResult put, blobs_->Put(data, {}, ctx));
    return Distribute(put.id, put.size, ctx);
  }

  Result<PutOutcome> Distribute(const cas::ContentId& id, const Context& ctx) {
    DEPOT_ASSIGN_OR_RETURN(cas::BlobInfo info, blobs_->Stat(id, ctx));
    return Distribute(id, info.size, ctx);
  }

  // Announces the blob this node holds and contracts `replication` - 1 others for it.
  Result<PutOutcome> Distribute(const cas::ContentId& content, uint64_t size, const Context& ctx) {
    {
      MutexLock lock(mu_);
      held_[content] = size;
    }
    DEPOT_RETURN_IF_ERROR(AnnounceBlob(content, size));
    PutOutcome outcome{content, size, {}};
    const uint32_t wanted = options_.replication > 1 ? options_.replication - 1 : 0;
    DEPOT_ASSIGN_OR_RETURN(std::vector<NodeRecord> candidates,
                           Closest(Raw(content), wanted + 8, ctx));
    // The closest first, as many at once as are still wanted; each refusal makes room for the
    // next candidate in the following round.
    std::string refusals;
    size_t next = 0;
    while (outcome.contracts.size() < wanted && next < candidates.size()) {
      std::vector<std::pair<const NodeRecord*, std::future<Result<ContractRecord>>>> round;
      while (outcome.contracts.size() + round.size() < wanted && next < candidates.size()) {
        const NodeRecord& candidate = candidates[next++];
        if (candidate.id == id()) continue;
        round.emplace_back(&candidate, std::async(std::launch::async, [&, c = &candidate] {
          return Contract(*c, content, size, {options_.endpoint}, ctx);
        }));
      }
      for (auto& [candidate, pending] : round) {
        Result<ContractRecord> made = pending.get();
        if (made.ok()) {
          outcome.contracts.push_back(std::move(*made));
        } else {
          refusals += fmt::format("; {}: {}", candidate->id.Short(), made.status().ToString());
        }
      }
    }
    if (outcome.contracts.size() < wanted) {
      return UnavailableError(fmt::format(
          "{} of the {} providers asked for {} accepted, of {} nodes known (the contracts made "
          "stay){}",
          outcome.contracts.size(), wanted, content.ToHex(), candidates.size(), refusals));
    }
    return outcome;
  }

  Result<std::string> Get(const cas::ContentId& content, const Context& ctx) {
    std::string out;
    DEPOT_RETURN_IF_ERROR(Read(
        content,
        [&](std::string_view bytes) {
          out.append(bytes);
          return Status::Ok();
        },
        [&](uint64_t size) { out.reserve(size); }, ctx));
    return out;
  }

  // Streams the blob to `sink`: from the local store (verified) if it is here, else from its
  // providers; `sized` learns its size first.
  Status Read(const cas::ContentId& content, const std::function<Status(std::string_view)>& sink,
              const std::function<void(uint64_t)>& sized, const Context& ctx) {
    auto local = blobs_->Stat(content, ctx);
    if (local.ok()) {
      sized(local->size);
      return blobs_->Read(content, {}, sink, {}, ctx);
    }
    if (local.status().code() != StatusCode::kNotFound) return local.status();
    // A lookup made just after the records were put may miss them (the search stops at nodes
    // they have not reached yet): look again, three times in all, before saying no.
    std::vector<std::string> sources;
    uint64_t size = 0;
    for (int attempt = 0; attempt < 3 && sources.empty(); ++attempt) {
      if (attempt > 0) {
        DEPOT_RETURN_IF_ERROR(ctx.SleepFor(std::chrono::milliseconds(300 * attempt), "a lookup"));
      }
      DEPOT_ASSIGN_OR_RETURN(std::vector<ProviderRecord> providers, Providers(content, ctx));
      for (const ProviderRecord& provider : providers) {
        if (provider.provider == id()) continue;
        sources.push_back(provider.endpoint);
        size = provider.size;
      }
    }
    if (sources.empty()) {
      return NotFoundError(fmt::format("no provider of {} is known", content.ToHex()));
    }
    sized(size);
    return FetchInto(content, size, sources, ctx, sink);
  }

  Result<std::vector<ProviderRecord>> Providers(const cas::ContentId& content, const Context& ctx) {
    DEPOT_ASSIGN_OR_RETURN(std::vector<std::string> values, dht_->Get(ProvidersKey(content), ctx));
    const int64_t now = NowMs();
    std::map<NodeId, ProviderRecord> latest;
    for (const std::string& value : values) {
      auto record = OpenProviderRecord(value, now);
      if (!record.ok() || record->content != content) continue;  // stale, forged or misfiled
      auto [it, fresh] = latest.emplace(record->provider, *record);
      if (!fresh && it->second.issued_ms < record->issued_ms) it->second = *record;
    }
    std::vector<ProviderRecord> out;
    for (auto& [node, record] : latest) out.push_back(std::move(record));
    return out;
  }

  Result<std::vector<NodeRecord>> Closest(std::string_view target, size_t count,
                                          const Context& ctx) {
    // Every node of a bucket is closer than any of the next (the buckets are the ids' first four
    // bits, read in order of their XOR distance from the target's): read in turn until they hold
    // `count` nodes. (Reading four at once was slower: 18 ms against 14 ms for a put's lookup
    // among 100 nodes, BENCHMARKS.md.)
    const uint8_t home = BucketOf(target);
    std::vector<NodeRecord> found;
    for (uint8_t distance = 0; distance < 16 && found.size() < count; ++distance) {
      DEPOT_ASSIGN_OR_RETURN(std::vector<NodeRecord> bucket, Bucket(home ^ distance, ctx));
      found.insert(found.end(), bucket.begin(), bucket.end());
    }
    std::sort(found.begin(), found.end(), [&](const NodeRecord& a, const NodeRecord& b) {
      return CloserTo(target, a.id, b.id);
    });
    if (found.size() > count) found.resize(count);
    return found;
  }

  Result<NodeStatus> GetStatus(const Context& ctx) {
    NodeStatus status{.id = id(),
                      .endpoint = options_.endpoint,
                      .dht = dht_->address(),
                      .dht_stats = dht_->stats()};
    DEPOT_ASSIGN_OR_RETURN(std::vector<NodeRecord> known, Closest(id().view(), 1 << 20, ctx));
    status.known_nodes = known.size();
    {
      MutexLock lock(mu_);
      status.blobs = held_.size();
      for (const auto& [content, size] : held_) status.bytes += size;
    }
    DEPOT_ASSIGN_OR_RETURN(status.account, ledger_->AccountOf(id()));
    return status;
  }

  // --- background work ---

  void AnnounceNow() {
    const int64_t now = NowMs();
    NodeRecord self{.dht = dht_->address(),
                    .endpoint = options_.endpoint,
                    .issued_ms = now,
                    .expires_ms = now + RecordTtlMs()};
    (void)dht_->PutAsync(NodesKey(BucketOf(id().view())), SealNodeRecord(keys_, self));
    std::map<cas::ContentId, uint64_t> held;
    {
      MutexLock lock(mu_);
      held = held_;
    }
    for (const auto& [content, size] : held) {
      // A blob that went missing (deleted behind the node's back) is no longer announced.
      if (!Readable(content, size)) {
        MutexLock lock(mu_);
        held_.erase(content);
        continue;
      }
      (void)AnnounceBlob(content, size);
    }
  }

  void RepairNow() {
    auto contracts = ledger_->Contracts();
    if (!contracts.ok()) return;
    // The blobs still wanted: under a contract within its term that is active, disputed, or
    // breached (a provider failed: the very case for a replacement).
    std::map<cas::ContentId, ContractTerms> active;
    const int64_t now = NowMs();
    for (const ContractRecord& record : *contracts) {
      const bool wanted = record.state == ContractState::kActive ||
                          record.state == ContractState::kDisputed ||
                          record.state == ContractState::kBreached;
      if (wanted && now < record.terms.start_ms + record.terms.duration_ms) {
        active.emplace(record.terms.content, record.terms);
      }
    }
    for (const auto& [content, terms] : active) {
      if (Stopping()) return;
      bool mine = false;
      {
        MutexLock lock(mu_);
        mine = held_.contains(content);
      }
      if (!mine) continue;
      auto providers = Providers(content, {});
      if (!providers.ok()) continue;
      std::set<NodeId> live{id()};
      std::vector<std::string> sources{options_.endpoint};
      for (const ProviderRecord& p : *providers) {
        if (live.insert(p.provider).second) sources.push_back(p.endpoint);
      }
      // The live holder with the smallest id repairs; the others leave it to that one.
      if (*live.begin() != id() || live.size() >= terms.replication) continue;
      auto candidates = Closest(Raw(content), terms.replication + live.size() + 8, {});
      if (!candidates.ok()) continue;
      size_t count = live.size();
      for (const NodeRecord& candidate : *candidates) {
        if (count >= terms.replication) break;
        if (live.contains(candidate.id)) continue;
        if (sources.size() > kMaxSources) sources.resize(kMaxSources);
        if (Contract(candidate, content, terms.size, sources, {}).ok()) ++count;
      }
    }
  }

  void ChallengeNow() {
    auto contracts = ledger_->Contracts();
    if (!contracts.ok()) return;
    const int64_t now = NowMs();
    // The challenges due, asked kChallengesAtOnce at a time: an unreachable provider costs its
    // timeout, and should not hold up the others (or announcements, on this same thread).
    std::vector<std::pair<const ContractRecord*, uint64_t>> due_now;
    for (const ContractRecord& record : *contracts) {
      if (record.role != Role::kClient) continue;
      const bool disputed = record.state == ContractState::kDisputed;
      if (!disputed) {
        MutexLock lock(mu_);
        retry_at_.erase(record.id);
      }
      if (record.state != ContractState::kActive && !disputed) continue;
      const int64_t elapsed = now - record.terms.start_ms;
      const uint64_t due = std::min<uint64_t>(
          record.terms.epochs(),
          elapsed <= 0 ? 0 : static_cast<uint64_t>(elapsed / record.terms.proof_interval_ms));
      if (due <= record.last_epoch) continue;
      if (disputed) {  // asked again at most every proof interval, and every 30 s at most
        MutexLock lock(mu_);
        int64_t& at = retry_at_[record.id];
        if (now < at) continue;
        at = now + std::min<int64_t>(record.terms.proof_interval_ms, kDisputeRetryMs);
      }
      due_now.emplace_back(&record, due);
    }
    constexpr size_t kChallengesAtOnce = 8;
    for (size_t i = 0; i < due_now.size() && !Stopping(); i += kChallengesAtOnce) {
      std::vector<std::future<Status>> round;
      for (size_t j = i; j < std::min(due_now.size(), i + kChallengesAtOnce); ++j) {
        round.push_back(std::async(std::launch::async, [this, &due_now, j] {
          return Prove(*due_now[j].first, due_now[j].second);
        }));
      }
      for (auto& pending : round) (void)pending.get();
    }
  }

  // --- the endpoint ---

  EndpointResponse Handle(const EndpointRequest& request) {
    if (request.method == "POST" && request.target == kMessagePath) {
      auto envelope = guard_.Open(request.body, id(), NowMs());
      if (!envelope.ok()) return Refusal(403, envelope.status());
      auto answer = Answer(*envelope);
      return {200, SealReply(keys_, *envelope, answer.ok() ? *answer : answer.status().ToString(),
                             NowMs(), !answer.ok())};
    }
    if (request.method == "GET" && request.target.starts_with(kSlicePath)) {
      const std::string_view rest = std::string_view(request.target).substr(kSlicePath.size());
      auto content = cas::ContentId::FromHex(rest.substr(0, rest.find('?')));
      const auto begin = QueryNumber(request.target, "begin");
      const auto end = QueryNumber(request.target, "end");
      if (!content.ok()) return Refusal(400, content.status());
      if (!begin || !end) {
        return Refusal(400, InvalidArgumentError("a slice needs numeric begin= and end="));
      }
      if (*end > *begin && *end - *begin > kMaxTransferSlice) {
        return Refusal(400, InvalidArgumentError(fmt::format("a slice of {} bytes is over {}",
                                                             *end - *begin, kMaxTransferSlice)));
      }
      auto slice = blobs_->Slice(*content, *begin, *end);
      if (!slice.ok()) {
        return Refusal(slice.status().code() == StatusCode::kNotFound ? 404 : 400, slice.status());
      }
      return {200, std::move(*slice)};
    }
    return Refusal(404, NotFoundError(fmt::format("no node endpoint at {} {}", request.method,
                                                  request.target)));
  }

 private:
  struct CachedBucket {
    std::vector<NodeRecord> records;
    std::chrono::steady_clock::time_point fetched;
  };

  int64_t RecordTtlMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(options_.dht.record_ttl).count();
  }

  bool Stopping() {
    MutexLock lock(mu_);
    return stopping_;
  }

  void Loop() {
    auto next_announce = std::chrono::steady_clock::now();
    auto next_repair = next_announce + options_.repair_interval;
    MutexLock lock(mu_);
    while (!stopping_) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_announce || now >= next_repair) {
        const bool announce = now >= next_announce, repair = now >= next_repair;
        lock.Unlock();
        if (announce) AnnounceNow();
        ChallengeNow();
        if (repair) RepairNow();
        lock.Lock();
        if (announce) next_announce = std::chrono::steady_clock::now() + options_.announce_interval;
        if (repair) next_repair = std::chrono::steady_clock::now() + options_.repair_interval;
        continue;
      }
      wake_.WaitUntil(lock,
                      std::min({next_announce, next_repair, now + std::chrono::milliseconds(200)}));
      if (stopping_) break;
      lock.Unlock();
      ChallengeNow();
      lock.Lock();
    }
  }

  // Whether the store has the blob and its first byte still reads (cheap: unverified; the
  // challenges check the rest).
  bool Readable(const cas::ContentId& content, uint64_t size) {
    if (!blobs_->Stat(content).ok()) return false;
    return size == 0 || blobs_->Get(content, ByteRange::Bounded(0, 1), {.verify = false}).ok();
  }

  // Announces (without waiting for the DHT) that this node provides the blob.
  Status AnnounceBlob(const cas::ContentId& content, uint64_t size) {
    const int64_t now = NowMs();
    ProviderRecord record{.content = content,
                          .size = size,
                          .endpoint = options_.endpoint,
                          .issued_ms = now,
                          .expires_ms = now + RecordTtlMs()};
    return dht_->PutAsync(ProvidersKey(content), SealProviderRecord(keys_, record));
  }

  Result<std::vector<NodeRecord>> Bucket(uint8_t bucket, const Context& ctx) {
    const auto fresh_for = options_.announce_interval / 2;
    {
      MutexLock lock(mu_);
      auto it = directory_.find(bucket);
      if (it != directory_.end() &&
          std::chrono::steady_clock::now() - it->second.fetched < fresh_for) {
        return it->second.records;
      }
    }
    DEPOT_ASSIGN_OR_RETURN(std::vector<std::string> values, dht_->Get(NodesKey(bucket), ctx));
    const int64_t now = NowMs();
    std::map<NodeId, NodeRecord> latest;
    for (const std::string& value : values) {
      auto record = OpenNodeRecord(value, now);
      if (!record.ok() || BucketOf(record->id.view()) != bucket) continue;
      auto [it, inserted] = latest.emplace(record->id, *record);
      if (!inserted && it->second.issued_ms < record->issued_ms) it->second = *record;
    }
    std::vector<NodeRecord> records;
    for (auto& [node, record] : latest) records.push_back(std::move(record));
    MutexLock lock(mu_);
    directory_[bucket] = {records, std::chrono::steady_clock::now()};
    return records;
  }

  // Sends a signed request and opens the signed reply.
  Result<std::string> Call(const NodeId& to, const std::string& endpoint, MessageKind kind,
                           std::string_view body, const Context& ctx) {
    const std::string sealed = SealMessage(keys_, kind, to, body, NowMs());
    DEPOT_ASSIGN_OR_RETURN(Nonce nonce, NonceOf(sealed));
    DEPOT_ASSIGN_OR_RETURN(EndpointResponse response,
                           link_->Send(endpoint, {"POST", std::string(kMessagePath), sealed}, ctx));
    if (response.status != 200) {
      return UnavailableError(fmt::format("node {} at {} answered {}: {}", to.Short(), endpoint,
                                          response.status, response.body.substr(0, 200)));
    }
    return OpenReply(response.body, id(), to, nonce, NowMs());
  }

  // Client side: offers `candidate` a contract for the blob, fetched from `sources`.
  Result<ContractRecord> Contract(const NodeRecord& candidate, const cas::ContentId& content,
                                  uint64_t size, const std::vector<std::string>& sources,
                                  const Context& ctx) {
    ContractTerms terms;
    terms.content = content;
    terms.size = size;
    terms.start_ms = NowMs();
    terms.duration_ms = options_.contract_duration.count();
    terms.proof_interval_ms = options_.proof_interval.count();
    terms.tier = options_.tier;
    terms.quality = options_.quality;
    terms.replication = std::max<uint32_t>(1, options_.replication);
    terms.allowed_misses = options_.allowed_misses;
    const ChallengeChain chain = ChallengeChain::Make(terms.epochs());
    terms.challenge_commitment = chain.commitment();
    ContractRecord record;
    record.client = id();
    record.provider = candidate.id;
    record.terms = terms;
    record.id = MakeContractId(record.client, record.provider, terms);
    record.provider_endpoint = candidate.endpoint;
    record.chain = chain.secret();
    DEPOT_RETURN_IF_ERROR(ledger_->Propose(record));
    Writer body;
    body.Bytes(terms.Encode()).U32(static_cast<uint32_t>(sources.size()));
    for (const std::string& source : sources) body.Bytes(source);
    auto accepted =
        Call(candidate.id, candidate.endpoint, MessageKind::kStoreRequest, body.str(), ctx);
    if (!accepted.ok()) {
      (void)ledger_->Transition(record.id, ContractState::kTerminated,
                                std::string(accepted.status().message()));
      return accepted.status();
    }
    DEPOT_RETURN_IF_ERROR(ledger_->Transition(record.id, ContractState::kActive,
                                              fmt::format("accepted by {}", candidate.id.Short())));
    return ledger_->Get(record.id);
  }

  // Client side: challenges the provider of `record` for the epoch after its last, `due` being
  // the last epoch due now, and records the outcome. The provider's answer settles the epoch: a
  // slice that verifies passes; a refusal, or bytes that fail, fail. No answer signed by the
  // provider (unreachable, timed out) disputes the contract instead, asked again at each retry
  // time; when the dispute has lasted dispute_window, every epoch due fails (a silent provider
  // fails as many as it left unanswered, so silence never pays better than a wrong answer).
  Status Prove(const ContractRecord& record, uint64_t due) {
    const uint64_t epoch = record.last_epoch + 1;
    const ChallengeChain chain = ChallengeChain::FromSecret(record.chain, record.terms.epochs());
    const Challenge challenge = chain.ChallengeFor(record.id, epoch);
    const auto [begin, end] = challenge.Range(record.terms.size);
    auto ask = [&](const std::string& endpoint) {
      return Call(record.provider, endpoint, MessageKind::kChallenge, challenge.Encode(),
                  Context().WithTimeout(std::chrono::seconds(10)));
    };
    auto answer = ask(record.provider_endpoint);
    if (!answer.ok() && answer.status().code() != StatusCode::kFailedPrecondition) {
      // Unreachable where the contract says: a provider that restarted elsewhere names its new
      // endpoint in the provider records it signs, so it is asked there before being disputed.
      if (auto moved = MovedEndpoint(record)) answer = ask(*moved);
    }
    if (!answer.ok() && answer.status().code() != StatusCode::kFailedPrecondition) {
      const std::string why =
          fmt::format("epoch {} unanswered: {}", epoch, answer.status().ToString().substr(0, 300));
      if (record.state == ContractState::kActive) {
        return ledger_->Transition(record.id, ContractState::kDisputed, why);
      }
      const int64_t disputed_for = NowMs() - record.updated_ms;
      if (disputed_for < options_.dispute_window.count()) return Status::Ok();
      for (uint64_t e = epoch; e <= due; ++e) {
        const uint64_t group = chain.ChallengeFor(record.id, e).Group(record.terms.size);
        DEPOT_RETURN_IF_ERROR(
            Record(record, e, group, false,
                   fmt::format("{} (disputed for {} ms, past the window)", why, disputed_for)));
      }
      return Status::Ok();
    }
    std::string detail;
    bool passed = false;
    if (!answer.ok()) {
      detail = std::string(answer.status().ToString());
    } else {
      auto verified =
          cas::VerifySlice({reinterpret_cast<const uint8_t*>(answer->data()), answer->size()},
                           record.terms.content.digest, begin, end);
      passed = verified.ok();
      detail = passed ? fmt::format("bytes {}-{} verified", begin, end)
                      : std::string(verified.status().ToString());
    }
    return Record(record, epoch, challenge.Group(record.terms.size), passed, detail);
  }

  // Where the provider of `record` now says it is, when that is not where the contract says.
  std::optional<std::string> MovedEndpoint(const ContractRecord& record) {
    auto providers =
        Providers(record.terms.content, Context().WithTimeout(std::chrono::seconds(10)));
    if (!providers.ok()) return std::nullopt;
    for (const ProviderRecord& provider : *providers) {
      if (provider.provider == record.provider && provider.endpoint != record.provider_endpoint) {
        return provider.endpoint;
      }
    }
    return std::nullopt;
  }

  // Records a proof; when it breaches the contract, tells the provider, so that its own book
  // ends the contract too (if it cannot be reached, its book stays as it was: the client's is
  // the one that moves money). kFailedPrecondition once the contract has ended.
  Status Record(const ContractRecord& record, uint64_t epoch, uint64_t group, bool passed,
                const std::string& detail) {
    DEPOT_RETURN_IF_ERROR(
        ledger_->RecordProof(record.id, epoch, group, passed, detail.substr(0, 1000)).status());
    auto now = ledger_->Get(record.id);
    if (now.ok() && now->state == ContractState::kBreached) {
      (void)Call(record.provider, record.provider_endpoint, MessageKind::kBreached,
                 std::string(record.id.begin(), record.id.end()),
                 Context().WithTimeout(std::chrono::seconds(5)));
      return FailedPreconditionError("the contract is breached");
    }
    return Status::Ok();
  }

  // Provider side: what a request asks, answered.
  Result<std::string> Answer(const Envelope& e) {
    switch (e.kind) {
      case MessageKind::kPing:
        return std::string();
      case MessageKind::kStoreRequest:
        return AcceptStore(e);
      case MessageKind::kChallenge:
        return AnswerChallenge(e);
      case MessageKind::kBreached:
        return NoteBreach(e);
      default:
        return InvalidArgumentError(
            "only pings, store requests, challenges and breach notices are answered");
    }
  }

  Result<std::string> AcceptStore(const Envelope& e) {
    Reader r(e.body);
    const std::string_view encoded = r.Bytes(1024);
    const uint32_t n = r.U32();
    std::vector<std::string> sources;
    for (uint32_t i = 0; r.ok() && i < n && i < kMaxSources; ++i) {
      sources.emplace_back(r.Bytes(kMaxEndpoint));
    }
    if (!r.done() || n > kMaxSources) {
      return InvalidArgumentError("a store request that does not parse");
    }
    DEPOT_ASSIGN_OR_RETURN(ContractTerms terms, ContractTerms::Decode(encoded));
    ContractRecord record;
    record.client = e.from;
    record.provider = id();
    record.terms = terms;
    record.id = MakeContractId(e.from, id(), terms);
    record.provider_endpoint = options_.endpoint;
    if (ledger_->Get(record.id).ok()) return std::string("accepted");  // a retried request
    if (!blobs_->Stat(terms.content).ok()) {
      DEPOT_RETURN_IF_ERROR(Fetch(terms.content, terms.size, sources, {}));
    } else if (Readable(terms.content, terms.size)) {
      DEPOT_RETURN_IF_ERROR(blobs_->Pin(terms.content).status());
    } else {
      return DataLossError(fmt::format("this node's copy of {} is damaged", terms.content.ToHex()));
    }
    {
      MutexLock lock(mu_);
      held_[terms.content] = terms.size;
    }
    DEPOT_RETURN_IF_ERROR(ledger_->Accept(record));
    (void)AnnounceBlob(terms.content, terms.size);
    return std::string("accepted");
  }

  Result<std::string> AnswerChallenge(const Envelope& e) {
    DEPOT_ASSIGN_OR_RETURN(Challenge challenge, Challenge::Decode(e.body));
    DEPOT_ASSIGN_OR_RETURN(ContractRecord record, ledger_->Get(challenge.contract));
    if (record.role != Role::kProvider || record.client != e.from) {
      return PermissionDeniedError("a challenge for a contract the sender is not the client of");
    }
    // The challenge answered last, asked again: its answer was lost on the way (the client
    // disputed it and retries), so it is answered again, the book unchanged.
    const bool again = challenge.epoch == record.last_epoch && challenge.reveal == record.chain;
    if (!again &&
        (challenge.epoch <= record.last_epoch || challenge.epoch > record.terms.epochs() ||
         !ChainLeadsTo(challenge.reveal, record.chain, challenge.epoch - record.last_epoch))) {
      return PermissionDeniedError(fmt::format(
          "the challenge for epoch {} does not follow the chain committed to", challenge.epoch));
    }
    const auto [begin, end] = challenge.Range(record.terms.size);
    auto slice = blobs_->Slice(record.terms.content, begin, end);
    if (!again) {
      DEPOT_RETURN_IF_ERROR(ledger_->RecordAnswer(record.id, challenge.epoch, challenge.reveal));
    }
    return slice;
  }

  // Provider side: the client breached a contract; this book ends it too.
  Result<std::string> NoteBreach(const Envelope& e) {
    ContractId id{};
    if (e.body.size() != id.size()) {
      return InvalidArgumentError(
          fmt::format("a breach notice of {} bytes, not a contract id", e.body.size()));
    }
    std::copy(e.body.begin(), e.body.end(), id.begin());
    DEPOT_ASSIGN_OR_RETURN(ContractRecord record, ledger_->Get(id));
    if (record.role != Role::kProvider || record.client != e.from) {
      return PermissionDeniedError(
          "a breach notice for a contract the sender is not the client of");
    }
    if (record.state == ContractState::kBreached) return std::string();  // told twice
    DEPOT_RETURN_IF_ERROR(
        ledger_->Transition(id, ContractState::kBreached, "the client breached it: failed proofs"));
    return std::string();
  }

  // Fetches the blob from `sources` as verified slices into the store (pinned).
  Status Fetch(const cas::ContentId& content, uint64_t size,
               const std::vector<std::string>& sources, const Context& ctx) {
    DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<cas::BlobWriter> writer, blobs_->OpenWriter({}, ctx));
    DEPOT_RETURN_IF_ERROR(FetchInto(content, size, sources, ctx,
                                    [&](std::string_view bytes) { return writer->Write(bytes); }));
    DEPOT_ASSIGN_OR_RETURN(cas::PutBlobResult put, writer->Finish());
    if (put.id != content) {  // cannot happen with verified slices, but never keep a wrong blob
      (void)blobs_->Unpin(put.id);
      return DataLossError(fmt::format("fetched {} but got {}", content.ToHex(), put.id.ToHex()));
    }
    return Status::Ok();
  }

  // One slice [begin, end) from `source`, verified against the id: the bytes as received, and
  // views into them of the range's bytes, in order.
  struct VerifiedSlice {
    std::unique_ptr<std::string> received;
    std::vector<std::string_view> bytes;
  };
  Result<VerifiedSlice> FetchSlice(const cas::ContentId& content, const std::string& source,
                                   uint64_t begin, uint64_t end, const Context& ctx) {
    const std::string target =
        fmt::format("{}{}?begin={}&end={}", kSlicePath, content.ToHex(), begin, end);
    DEPOT_ASSIGN_OR_RETURN(EndpointResponse response,
                           link_->Send(source, {"GET", target, ""}, ctx));
    if (response.status != 200) return UnavailableError(response.body.substr(0, 200));
    VerifiedSlice slice{std::make_unique<std::string>(std::move(response.body)), {}};
    DEPOT_RETURN_IF_ERROR(cas::VerifySlice(
        {reinterpret_cast<const uint8_t*>(slice.received->data()), slice.received->size()},
        content.digest, begin, end, [&](std::string_view bytes) {
          slice.bytes.push_back(bytes);
          return Status::Ok();
        }));
    return slice;
  }

  // Streams the blob's bytes to `sink` in order, slice by slice, each verified (on the thread
  // that fetched it) before it goes: kFetchDepth slices in flight from one source; a source that
  // fails or lies is dropped for the next one, from the first byte not yet delivered.
  Status FetchInto(const cas::ContentId& content, uint64_t size,
                   const std::vector<std::string>& sources, const Context& ctx,
                   const std::function<Status(std::string_view)>& sink) {
    constexpr size_t kFetchDepth = 4;
    uint64_t at = 0;
    Status last = NotFoundError(fmt::format("no source for {}", content.ToHex()));
    for (size_t source = 0; at < size && source < sources.size(); ++source) {
      std::deque<std::pair<uint64_t, std::future<Result<VerifiedSlice>>>> inflight;
      uint64_t next = at;
      bool failed = false;
      while (at < size && !failed) {
        while (inflight.size() < kFetchDepth && next < size) {
          const uint64_t end = std::min(size, next + options_.transfer_slice);
          inflight.emplace_back(end, std::async(std::launch::async, [&, next, end, source] {
                                  return FetchSlice(content, sources[source], next, end, ctx);
                                }));
          next = end;
        }
        auto [end, pending] = std::move(inflight.front());
        inflight.pop_front();
        Result<VerifiedSlice> got = pending.get();
        if (!got.ok()) {
          last = got.status();
          failed = true;
          break;
        }
        for (std::string_view bytes : got->bytes) DEPOT_RETURN_IF_ERROR(sink(bytes));
        at = end;
      }
      for (auto& [end, pending] : inflight) pending.wait();  // nothing outlives this call
    }
    return at == size ? Status::Ok() : last;
  }

  const KeyPair keys_;
  const std::shared_ptr<cas::BlobStore> blobs_;
  const std::shared_ptr<PeerLink> link_;
  const NodeOptions options_;
  const std::unique_ptr<Dht> dht_;
  const std::unique_ptr<Ledger> ledger_;
  ReplayGuard guard_;
  Mutex mu_;
  CondVar wake_;
  bool stopping_ DEPOT_GUARDED_BY(mu_) = false;
  std::map<cas::ContentId, uint64_t> held_ DEPOT_GUARDED_BY(mu_);  // provided blobs and sizes
  std::map<uint8_t, CachedBucket> directory_ DEPOT_GUARDED_BY(mu_);
  std::map<ContractId, int64_t> retry_at_ DEPOT_GUARDED_BY(mu_);  // disputed: when to ask again
  std::thread thread_;
};

Result<std::unique_ptr<Node>> Node::Start(NodeParts parts, NodeOptions options) {
  if (parts.blobs == nullptr || parts.ledger_store == nullptr || parts.transport == nullptr) {
    return InvalidArgumentError("a node needs a blob store, a kv store and a transport");
  }
  if (options.endpoint.empty() || options.endpoint.size() > kMaxEndpoint) {
    return InvalidArgumentError(
        fmt::format("a node endpoint \"{}\" must be 1..{} bytes", options.endpoint, kMaxEndpoint));
  }
  if (options.replication < 1 || options.replication > 12) {
    return InvalidArgumentError(
        fmt::format("a replication of {} is outside 1..12", options.replication));
  }
  if (options.dispute_window.count() < 0) {
    return InvalidArgumentError(
        fmt::format("a dispute window of {} ms is negative", options.dispute_window.count()));
  }
  if (options.announce_interval >= options.dht.record_ttl) {
    return InvalidArgumentError(fmt::format(
        "an announce interval of {} ms is not below the record ttl of {} ms (records would "
        "expire before they are announced again)",
        options.announce_interval.count(),
        std::chrono::duration_cast<std::chrono::milliseconds>(options.dht.record_ttl).count()));
  }
  if (options.transfer_slice < cas::kGroupLen || options.transfer_slice > kMaxTransferSlice) {
    return InvalidArgumentError(fmt::format("a transfer slice of {} bytes is outside {}..{}",
                                            options.transfer_slice, cas::kGroupLen,
                                            kMaxTransferSlice));
  }
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<Ledger> ledger,
                         Ledger::Open(parts.ledger_store, parts.keys.id(), options.ledger));
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<Dht> dht,
                         Dht::Start(std::move(parts.transport), options.dht));
  auto impl = std::make_unique<Impl>(std::move(parts), std::move(options), std::move(dht),
                                     std::move(ledger));
  DEPOT_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() = default;
const NodeId& Node::id() const { return impl_->id(); }
Address Node::dht_address() const { return impl_->dht_address(); }
void Node::Bootstrap(const Address& peer) { impl_->Bootstrap(peer); }
Result<PutOutcome> Node::Put(std::string_view data, const Context& ctx) {
  return impl_->Put(data, ctx);
}
Result<PutOutcome> Node::Distribute(const cas::ContentId& id, const Context& ctx) {
  return impl_->Distribute(id, ctx);
}
Result<std::string> Node::Get(const cas::ContentId& id, const Context& ctx) {
  return impl_->Get(id, ctx);
}
Status Node::Read(const cas::ContentId& id, const std::function<Status(std::string_view)>& sink,
                  const Context& ctx) {
  return impl_->Read(
      id, sink, [](uint64_t) {}, ctx);
}
Result<std::vector<ProviderRecord>> Node::Providers(const cas::ContentId& id, const Context& ctx) {
  return impl_->Providers(id, ctx);
}
Result<std::vector<NodeRecord>> Node::Closest(std::string_view target, size_t count,
                                              const Context& ctx) {
  return impl_->Closest(target, count, ctx);
}
Result<NodeStatus> Node::Describe(const Context& ctx) { return impl_->GetStatus(ctx); }
Ledger& Node::ledger() { return impl_->ledger(); }
void Node::AnnounceNow() { impl_->AnnounceNow(); }
void Node::RepairNow() { impl_->RepairNow(); }
void Node::ChallengeNow() { impl_->ChallengeNow(); }
EndpointResponse Node::Handle(const EndpointRequest& request) { return impl_->Handle(request); }
void Node::Stop() { impl_->Stop(); }

}  // namespace depot::node
