#include "plugin/daemon.h"

#include "primitives/tx.h"
#include "plugin/defaults.h"
#include "plugin/peer_rpc.h"
#include "plugin/rpc_params.h"
#include "plugin/seed.h"
#include "util/hex.h"
#include "util/logging.h"

#include <csignal>
#include <thread>

namespace sidebolt {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* DAEMON_DB = "daemon";
constexpr const char* NETWORK_KEY = "network";
//! Transient RPC failures are retried this long per call while running; the follower retries too.
constexpr std::chrono::seconds RUNTIME_RPC_RETRY_BUDGET{3};

auto Logger() { return Log("daemon"); }

std::runtime_error StartupError(const std::string& message) { return std::runtime_error(message); }

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
    Logger()->info("sideboltd starting: network {}, datadir {}", NetworkName(m_settings.network), m_settings.datadir.string());
    ConnectBitcoind();
    WaitForInitialBlockDownload();
    // Only now, with bitcoind confirmed right for this network, is anything created on disk.
    OpenStore();
    m_node_key = NodeSeed::LoadOrCreate(m_settings.datadir).NodeKey();
    m_node_id = m_node_key->GetPubKey();
    Logger()->info("node id {}", ToHex(m_node_id->span()));

    ChainServiceConfig chain_config;
    chain_config.zmq = ResolveZmq();
    chain_config.poll_interval = m_settings.poll_interval;
    chain_config.fees.floor_per_kw = m_settings.feerate_floor_per_kw;
    chain_config.debug_zmq_drop = m_settings.debug_zmq_drop;
    m_chain = std::make_unique<ChainService>(*m_chain_source, *m_store, std::move(chain_config));
    m_watch_journal = std::make_unique<WatchJournal>();
    m_chain->Watches().AddListener(WatchJournal::TAG_PREFIX, *m_watch_journal);
    m_chain->Start();
    StartPeers();
    StartRpcServer();
    Logger()->info("sideboltd started");
}

void Daemon::ConnectBitcoind()
{
    // Startup waits patiently for a bitcoind that is still coming up; once running, each call
    // gives up fast so an outage shows in getinfo instead of stalling the follower.
    rpc::JsonRpcConfig startup_config = m_settings.bitcoind;
    startup_config.retry_budget = m_settings.bitcoind_startup_timeout;
    rpc::JsonRpcClient startup_client(startup_config);
    rpc::BitcoindClient startup_bitcoind(startup_client);
    const std::string where = "bitcoind at " + m_settings.bitcoind_description;
    try {
        m_bitcoind_info = startup_bitcoind.RequireSupportedNode();
        const auto info = startup_bitcoind.GetBlockchainInfo();
        const auto expected = Params(m_settings.network).bitcoind_chain;
        if (info.chain != expected) {
            throw StartupError(where + " is on chain '" + info.chain + "' but sideboltd is configured for '" +
                               std::string(expected) + "' (-network)");
        }
    } catch (const rpc::RpcTransportError& e) {
        if (e.Kind() == rpc::TransportErrorKind::AuthFailed) {
            throw StartupError(where + " rejected our RPC credentials; check bitcoin.rpcuser/rpcpassword or rpccookiefile");
        }
        throw StartupError("cannot reach " + where + ": " + e.what());
    } catch (const rpc::RpcError& e) {
        throw StartupError(where + " answered with error " + std::to_string(e.Code()) + ": " + e.Message());
    }
    Logger()->info("connected to {} version {} {}", where, m_bitcoind_info.version, m_bitcoind_info.subversion);
    rpc::JsonRpcConfig runtime_config = m_settings.bitcoind;
    runtime_config.retry_budget = RUNTIME_RPC_RETRY_BUDGET;
    m_rpc_client = std::make_unique<rpc::JsonRpcClient>(runtime_config);
    m_bitcoind = std::make_unique<rpc::BitcoindClient>(*m_rpc_client);
    m_chain_source = std::make_unique<BitcoindChainSource>(*m_bitcoind);
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

void Daemon::OpenStore()
{
    m_store = std::make_unique<store::Env>(m_settings.datadir / "store");
    const auto db = m_store->OpenDb(DAEMON_DB);
    const std::string network(NetworkName(m_settings.network));
    const ByteSpan key{reinterpret_cast<const uint8_t*>(NETWORK_KEY), std::strlen(NETWORK_KEY)};
    m_store->Write([&](store::WriteTxn& txn) {
        const auto stored = txn.Get(db, key);
        if (!stored) {
            txn.Put(db, key, {reinterpret_cast<const uint8_t*>(network.data()), network.size()});
        } else if (std::string(stored->begin(), stored->end()) != network) {
            throw StartupError("datadir " + m_settings.datadir.string() + " belongs to network " +
                               std::string(stored->begin(), stored->end()) + ", not " + network);
        }
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
    handlers.on_connected = [](const PubKey& id, const FeatureBits& features) {
        Log("net")->info("peer {} connected (features {})", ToHex(id.span()), DescribeFeatures(features));
    };
    handlers.on_disconnected = [](const PubKey& id, const std::string& reason) {
        Log("net")->info("peer {} disconnected: {}", ToHex(id.span()), reason);
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
    m_io_work.emplace(asio::make_work_guard(m_io));
    m_io_thread = std::thread([this] { m_io.run(); });
}

void Daemon::StartRpcServer()
{
    const std::string cookie = RpcCookie::Generate(m_settings.datadir);
    m_rpc_server = std::make_unique<RpcServer>(cookie);
    RegisterRpcMethods();
    const int port = m_rpc_server->Start(m_settings.rpc_bind, m_settings.rpc_port);
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
    s.Register({"help", {}, "List the methods.", [this](const json&) -> json { return m_rpc_server->HelpText(); }});
    RegisterPeerRpcs(s, *m_peers);
    s.Register({"listchainevents", {"count"}, "The most recent block connect/disconnect events, oldest first.",
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
    s.Register({"dev-watchtxid", {"txid", "depth"}, "Watch a transaction until it is depth blocks deep.",
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
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    const timespec tick{0, 100'000'000};
    while (!m_stop_requested) {
        const int sig = sigtimedwait(&signals, nullptr, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            Logger()->info("received signal {}, shutting down", sig);
            m_stop_requested = true;
        }
    }
    // Let the `stop` RPC's reply reach the client before the server goes away.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void Daemon::Stop()
{
    if (m_rpc_server) m_rpc_server->Stop();
    if (m_rpc_client) m_rpc_client->Interrupt();
    if (m_peers) m_peers->Stop();
    m_io_work.reset();
    if (m_io_thread.joinable()) m_io_thread.join();
    m_peers.reset();
    if (m_chain) m_chain->Stop();
    if (m_rpc_server) {
        RpcCookie::Remove(m_settings.datadir);
        m_rpc_server.reset();
        Logger()->info("sideboltd stopped");
    }
    m_chain.reset();
    m_store.reset();
    m_lock.reset();
}

} // namespace sidebolt
