#include "plugin/daemon.h"

#include "primitives/tx.h"
#include "plugin/defaults.h"
#include "plugin/channel_rpc.h"
#include "plugin/gossip_rpc.h"
#include "plugin/invoice_rpc.h"
#include "plugin/pay_rpc.h"
#include "plugin/peer_rpc.h"
#include "plugin/rpc_params.h"
#include "plugin/seed.h"
#include "util/hex.h"
#include "util/latency_histogram.h"
#include "util/logging.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

namespace sidebolt {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* DAEMON_DB = "daemon";
constexpr const char* NETWORK_KEY = "network";
//! The node id the store was created for: a store never goes with another seed.
constexpr const char* NODE_ID_KEY = "node_id";
//! Transient RPC failures are retried this long per call while running; the follower retries too.
constexpr std::chrono::seconds RUNTIME_RPC_RETRY_BUDGET{3};
//! While bitcoind does not answer at startup: how often we try, and how often we say so.
constexpr std::chrono::seconds STARTUP_RETRY_INTERVAL{1};
constexpr std::chrono::seconds STARTUP_REPORT_INTERVAL{10};
//! A store this quiet with anything in its log checkpoints on its own thread, rather than in
//! the commit of a later payment.
constexpr std::chrono::milliseconds STORE_IDLE_CHECKPOINT{1000};

auto Logger() { return Log("daemon"); }

//! Durations since start for getmetrics: quantiles (each the upper bound of its bucket, within
//! a fifth of the true one) and the non-empty buckets, which a client diffs to get an interval's.
json LatencyJson(const LatencyHistogram& histogram)
{
    const std::vector<uint64_t> counts = histogram.Counts();
    json buckets = json::array();
    for (size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] != 0) buckets.push_back({LatencyHistogram::UpperBoundMicros(i), counts[i]});
    }
    json out{{"count", LatencyHistogram::Total(counts)}, {"buckets", std::move(buckets)}};
    for (const auto& [name, q] : {std::pair{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1.0}}) {
        const auto micros = LatencyHistogram::QuantileMicros(counts, q);
        out[name] = micros ? json(*micros) : json(nullptr);
    }
    return out;
}

std::runtime_error StartupError(const std::string& message) { return std::runtime_error(message); }

ByteSpan KeyBytes(const char* key) { return {reinterpret_cast<const uint8_t*>(key), std::strlen(key)}; }

//! Waits up to `timeout` for SIGINT or SIGTERM, which every thread blocks (see sideboltd_main);
//! true when one arrived.
bool WaitForShutdownSignal(std::chrono::milliseconds timeout)
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const timespec wait{seconds.count(), std::chrono::nanoseconds(timeout - seconds).count()};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig != SIGINT && sig != SIGTERM) return false;
    Logger()->info("received signal {}, shutting down", sig);
    return true;
}

//! bitcoind failures that mean it is not up yet (not listening, no cookie written yet, work queue
//! full), worth waiting for at startup. Anything else is a configuration error.
bool IsStartingUp(const rpc::RpcTransportError& e)
{
    using rpc::TransportErrorKind;
    return e.Kind() == TransportErrorKind::ConnectFailed || e.Kind() == TransportErrorKind::CookieUnreadable ||
           (e.Kind() == TransportErrorKind::HttpStatus && e.HttpStatus() == 503);
}

json DescribeChainEvent(const ChainEvent& e)
{
    return {{"type", e.type == ChainEventType::CONNECTED ? "connected" : "disconnected"},
            {"height", e.height},
            {"hash", HashToHexRev(e.hash)},
            {"time", std::chrono::duration_cast<std::chrono::milliseconds>(e.time.time_since_epoch()).count()}};
}
} // namespace

Daemon::Daemon(DaemonSettings settings) : m_settings(std::move(settings)) {}

Daemon::~Daemon() { Stop(); }

void Daemon::Start()
{
    m_lock.emplace(m_settings.datadir);
    m_idle_poller = std::make_unique<IdlePoller>(m_settings.busy_poll, MAX_BUSY_POLL_THREADS);
    Logger()->info("sideboltd starting: network {}, datadir {}", NetworkName(m_settings.network), m_settings.datadir.string());
    ConnectBitcoind();
    WaitForInitialBlockDownload();
    // Only now, with bitcoind confirmed right for this network, is anything created on disk.
    OpenStoreAndSeed();
    Logger()->info("node id {}", ToHex(m_node_id->span()));
    m_invoice_store = std::make_unique<InvoiceStore>(*m_store);
    m_invoices = std::make_unique<InvoiceService>(*m_store, *m_invoice_store, *m_node_key, m_settings.network, [] {
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch()).count());
    });

    ChainServiceConfig chain_config;
    chain_config.zmq = ResolveZmq();
    chain_config.poll_interval = m_settings.poll_interval;
    chain_config.fees.floor_per_kw = m_settings.feerate_floor_per_kw;
    chain_config.debug_zmq_drop = m_settings.debug_zmq_drop;
    m_chain = std::make_unique<ChainService>(*m_chain_source, *m_store, std::move(chain_config));
    m_watch_journal = std::make_unique<WatchJournal>();
    m_chain->Watches().AddListener(WatchJournal::TAG_PREFIX, *m_watch_journal);
    StartPeers();
    // The channel manager listens to the chain from the first block the follower delivers, and
    // takes peer events from the moment the peer thread runs.
    StartChannels();
    m_chain->Start();
    m_io_work.emplace(asio::make_work_guard(m_io));
    m_io_thread = std::thread([this] { m_io.run(); });
    StartRpcServer();
    Logger()->info("sideboltd started");
}

void Daemon::ConnectBitcoind()
{
    // Startup waits patiently for a bitcoind that is still coming up, saying what it waits for;
    // once running, each call gives up fast so an outage shows in getinfo instead of stalling
    // the follower.
    rpc::JsonRpcConfig startup_config = m_settings.bitcoind;
    startup_config.retry_budget = std::chrono::milliseconds{0};
    rpc::JsonRpcClient startup_client(startup_config);
    rpc::BitcoindClient startup_bitcoind(startup_client);
    const std::string where = "bitcoind at " + m_settings.bitcoind_description;
    const auto deadline = Clock::now() + m_settings.bitcoind_startup_timeout;
    auto next_report = Clock::now();
    for (;;) {
        std::string waiting_for;
        try {
            m_bitcoind_info = startup_bitcoind.RequireSupportedNode();
            CheckBitcoindChain(startup_bitcoind, where);
            break;
        } catch (const rpc::RpcTransportError& e) {
            if (e.Kind() == rpc::TransportErrorKind::AuthFailed) {
                throw StartupError(where + " rejected our RPC credentials; check bitcoin.rpcuser/rpcpassword or rpccookiefile");
            }
            if (!IsStartingUp(e)) throw StartupError("cannot reach " + where + ": " + e.what());
            waiting_for = e.what();
        } catch (const rpc::RpcError& e) {
            if (e.Code() != rpc::RPC_IN_WARMUP) {
                throw StartupError(where + " answered with error " + std::to_string(e.Code()) + ": " + e.Message());
            }
            waiting_for = "warming up (" + e.Message() + ")";
        }
        const auto now = Clock::now();
        if (now >= deadline) {
            throw StartupError("cannot reach " + where + ": " + waiting_for + " (gave up after " +
                               std::to_string(m_settings.bitcoind_startup_timeout.count()) + " s, bitcoin.startuptimeout)");
        }
        if (now >= next_report) {
            const auto left = std::chrono::ceil<std::chrono::seconds>(deadline - now);
            Notice("Waiting for " + where + ": " + waiting_for + "; giving up in " + std::to_string(left.count()) + " s");
            next_report = now + STARTUP_REPORT_INTERVAL;
        }
        const auto pause = std::min<Clock::duration>(STARTUP_RETRY_INTERVAL, deadline - now);
        if (WaitForShutdownSignal(std::chrono::ceil<std::chrono::milliseconds>(pause))) {
            throw StartupError("interrupted while waiting for " + where);
        }
    }
    Logger()->info("connected to {} version {} {}", where, m_bitcoind_info.version, m_bitcoind_info.subversion);
    rpc::JsonRpcConfig runtime_config = m_settings.bitcoind;
    runtime_config.retry_budget = RUNTIME_RPC_RETRY_BUDGET;
    m_rpc_client = std::make_unique<rpc::JsonRpcClient>(runtime_config);
    m_bitcoind = std::make_unique<rpc::BitcoindClient>(*m_rpc_client);
    m_chain_source = std::make_unique<BitcoindChainSource>(*m_bitcoind);
}

void Daemon::CheckBitcoindChain(rpc::BitcoindClient& bitcoind, const std::string& where)
{
    const auto info = bitcoind.GetBlockchainInfo();
    const auto expected = Params(m_settings.network).bitcoind_chain;
    if (info.chain != expected) {
        throw StartupError(where + " is on chain '" + info.chain + "' but sideboltd is configured for '" +
                           std::string(expected) + "' (-network)");
    }
}

void Daemon::Notice(const std::string& message) const
{
    Logger()->warn("{}", message);
    // Without printtoconsole the log line only reaches debug.log; someone at a terminal waits too.
    if (!m_settings.print_to_console) std::cerr << "sideboltd: " << message << std::endl;
}

void Daemon::WaitForInitialBlockDownload()
{
    if (m_settings.network == Network::Regtest) {
        // A regtest node reports IBD until its tip is recent, which a fresh chain never is.
        return;
    }
    for (auto last_log = Clock::time_point{};;) {
        const auto info = m_bitcoind->GetBlockchainInfo();
        if (!info.initial_block_download) return;
        if (Clock::now() - last_log > std::chrono::seconds(30)) {
            Logger()->info("waiting for bitcoind to finish initial block download ({} of {} headers, {:.1f}%)",
                           info.blocks, info.headers, info.verification_progress * 100);
            last_log = Clock::now();
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));
        if (m_stop_requested) throw StartupError("stopped while waiting for initial block download");
    }
}

void Daemon::OpenStoreAndSeed()
{
    store::EnvOptions options;
    options.idle_checkpoint = STORE_IDLE_CHECKPOINT;
    options.idle_checkpoint_commits = 1;
    m_store = std::make_unique<store::Env>(m_settings.datadir / "store", options);
    const auto db = m_store->OpenDb(DAEMON_DB);
    std::optional<Bytes> stored_network;
    std::optional<Bytes> stored_node_id;
    {
        const auto txn = m_store->BeginRead();
        stored_network = txn.Get(db, KeyBytes(NETWORK_KEY));
        stored_node_id = txn.Get(db, KeyBytes(NODE_ID_KEY));
    }
    const std::string network(NetworkName(m_settings.network));
    if (stored_network && std::string(stored_network->begin(), stored_network->end()) != network) {
        throw StartupError("datadir " + m_settings.datadir.string() + " belongs to network " +
                           std::string(stored_network->begin(), stored_network->end()) + ", not " + network);
    }
    std::optional<PubKey> recorded;
    if (stored_node_id) {
        recorded = PubKey::Parse(*stored_node_id);
        if (!recorded) throw StartupError("the store in " + m_settings.datadir.string() + " holds a malformed node id");
    }
    // A store is new until its network is written; the seed is created (if missing) first, so
    // a crash in between leaves a seed and a new store, which the next start pairs up.
    m_seed = NodeSeed::LoadForStore(m_settings.datadir, !stored_network, recorded);
    m_node_key = m_seed->NodeKey();
    m_node_id = m_node_key->GetPubKey();
    if (stored_network && recorded) return;
    // Stores made before node ids were recorded get theirs from the seed beside them.
    m_store->Write([&](store::WriteTxn& txn) {
        txn.Put(db, KeyBytes(NETWORK_KEY), {reinterpret_cast<const uint8_t*>(network.data()), network.size()});
        txn.Put(db, KeyBytes(NODE_ID_KEY), m_node_id->span());
    });
}

std::vector<ZmqSubscription> Daemon::ResolveZmq()
{
    if (!m_settings.use_zmq) {
        Logger()->info("ZMQ disabled (bitcoin.zmq=0): following the chain by RPC polling every {} ms",
                       m_settings.poll_interval.count());
        return {};
    }
    auto subscriptions = m_settings.zmq;
    if (subscriptions.empty()) subscriptions = SubscriptionsFromNotifications(m_bitcoind->GetZmqNotifications());
    if (subscriptions.empty()) {
        Logger()->warn("bitcoind publishes no ZMQ notifications: following the chain by RPC polling every {} ms "
                       "(start bitcoind with -zmqpubrawblock and -zmqpubrawtx for faster updates)",
                       m_settings.poll_interval.count());
    }
    for (const auto& s : subscriptions) Logger()->info("ZMQ subscription {} at {}", s.topic, s.endpoint);
    return subscriptions;
}

void Daemon::StartPeers()
{
    PeerManagerOptions options;
    options.chain_hash = ChainHash(m_settings.network);
    options.ping_interval = m_settings.ping_interval;
    options.pong_timeout = std::min<std::chrono::milliseconds>(m_settings.ping_interval, std::chrono::seconds(30));
    PeerHandlers handlers;
    // The handlers run on the peer thread, which starts after the channel manager exists.
    handlers.on_connected = [this](const PubKey& id, const FeatureBits& features, ConnectionId connection) {
        Log("net")->info("peer {} connected (features {})", ToHex(id.span()), DescribeFeatures(features));
        m_channels->OnPeerConnected(id, features, connection);
        m_gossip->OnPeerConnected(id, features, connection);
    };
    handlers.on_disconnected = [this](const PubKey& id, const std::string& reason) {
        Log("net")->info("peer {} disconnected: {}", ToHex(id.span()), reason);
        m_channels->OnPeerDisconnected(id);
        m_gossip->OnPeerDisconnected(id);
    };
    handlers.on_message = [this](const PubKey& id, const Message& message) {
        const auto* other = std::get_if<OtherMessage>(&message);
        if (!other) return false;
        // BOLT 7 gossip goes to the gossip manager; announcement_signatures, about one of our
        // channels, to the channel manager.
        if (m_gossip->OnPeerMessage(id, other->type, other->payload)) return true;
        if (m_channels->OnPeerMessage(id, other->type, other->payload)) return true;
        // A gossip type we do not decode (an odd one, e.g. a newer extension) is read and dropped.
        return IsGossipMessageType(other->type);
    };
    handlers.on_read_delivered = [this](const PubKey& id) { m_channels->OnPeerReadDelivered(id); };
    handlers.on_notice = [this](const PubKey& id, MessageType type, const ChannelNotice& notice) {
        // The channel manager fails the named channel (or all, for a zero channel_id) on an
        // error, as BOLT 1 requires, and ignores one naming no channel of ours.
        m_channels->OnPeerNotice(id, notice.channel_id, type == MessageType::kError, PrintableNoticeData(notice.data));
    };
    m_peers = std::make_unique<PeerManager>(m_io, *m_node_key, options, std::move(handlers));
    if (m_settings.listen) {
        try {
            m_p2p_endpoint = m_peers->Listen(m_settings.p2p_bind, static_cast<uint16_t>(m_settings.p2p_port));
        } catch (const std::exception& e) {
            throw StartupError("cannot listen for peers on " + m_settings.p2p_bind + ":" +
                               std::to_string(m_settings.p2p_port) + ": " + e.what());
        }
        Logger()->info("listening for peers on {}:{}", m_p2p_endpoint->address().to_string(), m_p2p_endpoint->port());
    }
}

void Daemon::StartChannels()
{
    m_wallet_rpc = std::make_unique<rpc::BitcoindClient>(*m_rpc_client, m_settings.bitcoin_wallet);
    m_peer_link = std::make_unique<PeerManagerLink>(*m_peers);
    m_channel_wallet = std::make_unique<BitcoindWallet>(*m_wallet_rpc, m_settings.network);
    m_chain_link = std::make_unique<ChainServiceLink>(*m_chain);
    ChannelManagerOptions options;
    options.chain_hash = ChainHash(m_settings.network);
    options.policy = m_settings.channel_policy;
    options.max_pending_opens_per_peer = m_settings.max_pending_opens;
    options.wake_per_read = true;
    options.on_activity = [this] { m_idle_poller->Touch(); };
    options.run_when_idle = [this](std::function<void()> job) { return m_idle_poller->Post(std::move(job)); };
    if (const auto crash_type = m_settings.dev_crash_after_send) {
        options.after_send = [crash_type = *crash_type](std::span<const uint16_t> types) {
            if (std::find(types.begin(), types.end(), crash_type) == types.end()) return;
            // Give the network thread a moment to write it, then die as kill -9 would.
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            Logger()->warn("devcrashaftersend: killing ourselves after sending message type {}", crash_type);
            std::raise(SIGKILL);
        };
    }
    GossipOptions gossip_options;
    gossip_options.chain_hash = ChainHash(m_settings.network);
    gossip_options.alias = m_settings.alias.empty() ? "sidebolt-" + ToHex(m_node_id->span()).substr(2, 8) : m_settings.alias;
    gossip_options.color = m_settings.color;
    gossip_options.addresses = m_settings.announce_addresses;
    gossip_options.policy = m_settings.forward_policy;
    gossip_options.flush_interval = m_settings.gossip_flush;
    m_gossip_chain = std::make_unique<ChainSourceGossipChain>(*m_chain_source);
    m_gossip = std::make_unique<GossipManager>(*m_store, *m_peer_link, *m_gossip_chain, *m_node_key, gossip_options);
    options.node_id = *m_node_id;
    options.node_sign = [this](const Hash256& digest) { return m_node_key->Sign(digest); };
    options.on_channel_announced = [this](const ChannelAnnouncementMessage& announcement, Sat capacity) {
        m_gossip->AnnounceOurChannel(announcement, capacity);
    };
    options.on_private_channel = [this](const PubKey& peer, const ShortChannelId& scid, const OutPoint& funding, Sat capacity) {
        m_gossip->OurPrivateChannel(peer, scid, funding, capacity);
    };
    m_channels = std::make_unique<ChannelManager>(
        *m_store, *m_peer_link, *m_channel_wallet, *m_chain_link,
        [this](uint64_t index) { return m_seed->DeriveSecret("channel/" + std::to_string(index)); }, options);
    RouterOptions router_options;
    router_options.policy = m_settings.forward_policy;
    router_options.find_path = [this](const PathRequest& request) { return m_gossip->FindPath(request); };
    router_options.find_routes = [this](const PathRequest& request, Msat min_part) {
        return m_gossip->FindRoutes(request, min_part);
    };
    router_options.channel_policy = [this](const ShortChannelId& scid, const PubKey& from) {
        return m_gossip->ChannelPolicy(scid, from);
    };
    router_options.on_channel_update = [this](const ChannelUpdateMessage& update, ByteSpan payload) {
        m_gossip->ApplyPaymentUpdate(update, payload);
    };
    router_options.our_channel_update = [this](const ShortChannelId& scid) { return m_gossip->OurChannelUpdate(scid); };
    router_options.on_attempt = [this](const Route& route, std::optional<size_t> failed) { m_gossip->RecordAttempt(route, failed); };
    m_router = std::make_unique<HtlcRouter>(*m_store, *m_invoice_store, *m_node_key, router_options);
    m_router->on_invoice_paid = [this](const Hash256& payment_hash) { m_invoices->NotifyPaid(payment_hash); };
    m_channels->SetRouter(*m_router);
    m_invoices->SetRouteHintSource([this] {
        // Each hint says what the peer charges to reach us: its channel_update when we have one
        // (BOLT 7), else sidebolt's defaults.
        std::vector<std::vector<RouteHintHop>> hints;
        for (const auto& path : m_channels->RouteHints(DefaultForwardPolicy())) {
            std::vector<RouteHintHop> hops;
            for (const auto& hop : path) {
                const ForwardPolicy policy = m_gossip->ChannelPolicy(hop.short_channel_id, hop.node_id).value_or(ForwardPolicy{
                    hop.fee_base_msat, hop.fee_proportional_millionths, hop.cltv_expiry_delta});
                hops.push_back(RouteHintHop{hop.node_id, hop.short_channel_id, static_cast<uint32_t>(policy.fee_base_msat.value()),
                                            policy.fee_proportional_millionths, policy.cltv_expiry_delta});
            }
            hints.push_back(std::move(hops));
        }
        return hints;
    });
    m_chain->AddChainListener(*m_channels);
    m_chain->AddChainListener(*m_gossip);
    m_gossip->Start();
    m_chain->Watches().AddListener(ChannelManager::WatchTagPrefix(), *m_channels);
    m_channels->Start(static_cast<uint32_t>(std::max(0, m_chain->Status().chain.tip.height)));
}

void Daemon::StartRpcServer()
{
    const std::string cookie = RpcCookie::Generate(m_settings.datadir);
    m_rpc_server = std::make_unique<RpcServer>(cookie);
    RegisterRpcMethods();
    const int port = m_rpc_server->Start(m_settings.rpc_bind, m_settings.rpc_port, m_settings.rpc_threads);
    RpcCookie::WriteEndpoint(m_settings.datadir, m_settings.rpc_bind, port);
    Logger()->info("JSON-RPC server listening on {}:{}", m_settings.rpc_bind, port);
}

json Daemon::GetInfo()
{
    const auto status = m_chain->Status();
    json bitcoind{{"version", m_bitcoind_info.version},
                  {"subversion", m_bitcoind_info.subversion},
                  {"reachable", status.chain.source_reachable}};
    if (status.chain.source_height) bitcoind["blocks"] = *status.chain.source_height;
    if (!status.chain.last_error.empty()) bitcoind["last_error"] = status.chain.last_error;
    json binding = json::array();
    if (m_p2p_endpoint) binding.push_back(m_p2p_endpoint->address().to_string() + ":" + std::to_string(m_p2p_endpoint->port()));
    return {{"id", ToHex(m_node_id->span())},
            {"version", PROJECT_VERSION},
            {"network", NetworkName(m_settings.network)},
            {"blockheight", status.chain.tip.height},
            {"blockhash", status.chain.tip.height >= 0 ? HashToHexRev(status.chain.tip.hash) : ""},
            {"synced", status.chain.synced},
            {"chain_source", status.mode},
            {"bitcoind", std::move(bitcoind)},
            {"binding", std::move(binding)},
            {"num_peers", m_peers->ListPeers().size()},
            {"zmq", {{"received", status.zmq.received}, {"dropped", status.zmq.dropped}, {"gaps", status.zmq.gaps}}}};
}

void Daemon::RegisterRpcMethods()
{
    RpcServer& s = *m_rpc_server;
    s.Register({"getinfo", {}, "Node id, network, the block followed, bitcoind's state, ZMQ or polling.",
                [this](const json&) { return GetInfo(); }});
    s.Register({"stop", {}, "Shut sideboltd down cleanly.", [this](const json&) -> json {
                    m_stop_requested = true;
                    return "sideboltd stopping";
                }});
    s.Register({"getmetrics", {}, "Counters for monitoring: store commits, device syncs, checkpoints and how long their writes took.",
                [this](const json&) -> json {
                    return {{"store",
                             {{"commits", m_store->Commits()},
                              {"syncs", m_store->Syncs()},
                              {"checkpoints", m_store->Checkpoints()},
                              {"idle_checkpoints", m_store->IdleCheckpoints()},
                              {"durable", m_store->Durable()},
                              {"commit_write_us", LatencyJson(m_store->CommitWriteTimes())},
                              {"checkpoint_us", LatencyJson(m_store->CheckpointTimes())}}},
                            {"busypoll",
                             {{"threads", m_idle_poller->Threads()},
                              {"spun_ms", m_idle_poller->Spun().count() / 1000}}}};
                }});
    s.Register({"help", {}, "List the methods.", [this](const json&) -> json { return m_rpc_server->HelpText(); }});
    RegisterPeerRpcs(s, *m_peers, [this](const PubKey& id, const std::string& host, uint16_t port) {
        m_channels->RememberPeerAddress(id, host, port);
    });
    RegisterChannelRpcs(s, *m_channels, *m_wallet_rpc, m_settings.network, m_settings.developer);
    RegisterInvoiceRpcs(s, *m_invoices);
    const auto height = [this] { return static_cast<uint32_t>(std::max(0, m_chain->Status().chain.tip.height)); };
    RegisterPayRpcs(s, *m_channels, m_settings.network, height,
                    [this](const ForwardPolicy& policy) { m_gossip->SetPolicy(policy); });
    RegisterGossipRpcs(s, *m_gossip, *m_node_id, height);
    s.Register({"listchainevents", {"[count]"}, "The most recent block connect/disconnect events, oldest first.",
                [this](const json& params) {
                    const auto events = m_chain->RecentEvents();
                    const size_t count = static_cast<size_t>(std::max<int64_t>(0, OptionalParamInt(params, 0, "count").value_or(events.size())));
                    json out = json::array();
                    for (size_t i = events.size() - std::min(count, events.size()); i < events.size(); ++i) {
                        out.push_back(DescribeChainEvent(events[i]));
                    }
                    return out;
                }});
    s.Register({"dev-watchoutpoint", {"txid", "vout"}, "Watch an outpoint for spends (events in dev-listwatchevents).",
                [this](const json& params) -> json {
                    const OutPoint outpoint{ParamHash(params, 0, "txid"), static_cast<uint32_t>(ParamInt(params, 1, "vout"))};
                    m_chain->Watches().WatchOutpoint(outpoint, std::string(WatchJournal::TAG_PREFIX) + outpoint.ToString());
                    return outpoint.ToString();
                }});
    s.Register({"dev-watchtxid", {"txid", "[depth]"}, "Watch a transaction until it is depth blocks deep.",
                [this](const json& params) -> json {
                    const Hash256 txid = ParamHash(params, 0, "txid");
                    const int depth = static_cast<int>(OptionalParamInt(params, 1, "depth").value_or(1));
                    if (depth < 1) throw RpcException(RPC_INVALID_PARAMETER, "depth must be at least 1");
                    m_chain->Watches().WatchTxid(txid, depth, std::string(WatchJournal::TAG_PREFIX) + HashToHexRev(txid));
                    return HashToHexRev(txid);
                }});
    s.Register({"dev-listwatchevents", {}, "Events of the watches added with dev-watch*.",
                [this](const json&) { return m_watch_journal->Events(); }});
    s.Register({"dev-dropzmq", {"count"}, "Test only: drop the next count ZMQ messages to simulate loss.",
                [this](const json& params) -> json {
                    m_chain->DropZmqMessages(static_cast<unsigned>(ParamInt(params, 0, "count")));
                    return nullptr;
                }});
}

void Daemon::WaitForShutdown()
{
    while (!m_stop_requested) {
        if (WaitForShutdownSignal(std::chrono::milliseconds(100))) m_stop_requested = true;
    }
    // Let the `stop` RPC's reply reach the client before the server goes away.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void Daemon::Stop()
{
    // waitinvoice and waitanyinvoice may block an RPC thread for ever: end them first.
    if (m_invoices) m_invoices->Shutdown();
    if (m_rpc_server) m_rpc_server->Stop();
    if (m_rpc_client) m_rpc_client->Interrupt();
    if (m_peers) m_peers->Stop();
    m_io_work.reset();
    if (m_io_thread.joinable()) m_io_thread.join();
    // No peer event comes now; the channel worker is stopped before what it sends through goes.
    if (m_channels) m_channels->Stop();
    if (m_gossip) m_gossip->Stop();
    m_peers.reset();
    if (m_chain) m_chain->Stop();
    // The follower called into the channel manager as a listener until it stopped.
    m_channels.reset();
    m_gossip.reset();
    if (m_rpc_server) {
        RpcCookie::Remove(m_settings.datadir);
        m_rpc_server.reset();
        Logger()->info("sideboltd stopped");
    }
    m_chain.reset();
    m_router.reset();
    m_invoices.reset();
    m_invoice_store.reset();
    m_store.reset();
    m_lock.reset();
}

} // namespace sidebolt
