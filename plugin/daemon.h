#ifndef SIDEBOLT_PLUGIN_DAEMON_H
#define SIDEBOLT_PLUGIN_DAEMON_H

#include "chain/chain_service.h"
#include "chain/chain_source.h"
#include "primitives/key.h"
#include "net/asio.h"
#include "net/peer_manager.h"
#include "node/adapters.h"
#include "node/channel_manager.h"
#include "node/gossip_manager.h"
#include "node/invoice_store.h"
#include "plugin/datadir.h"
#include "plugin/seed.h"
#include "plugin/settings.h"
#include "plugin/watch_journal.h"
#include "rpc/bitcoind.h"
#include "rpc/json_rpc_client.h"
#include "rpc/server.h"
#include "store/env.h"
#include "util/idle_poller.h"

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

namespace sidebolt {

//! sideboltd: owns every component and wires them. Start() checks bitcoind before it creates
//! anything in the datadir, so a bad configuration leaves nothing behind but the log.
class Daemon
{
public:
    explicit Daemon(DaemonSettings settings);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    //! Throws std::runtime_error (with an operator-facing message) when it cannot start.
    void Start();
    //! Blocks until SIGINT/SIGTERM or the `stop` RPC.
    void WaitForShutdown();
    void Stop();

private:
    void ConnectBitcoind();
    void CheckBitcoindChain(rpc::BitcoindClient& bitcoind, const std::string& where);
    //! Tells the operator at once: the log, and stderr when the log does not go there.
    void Notice(const std::string& message) const;
    void WaitForInitialBlockDownload();
    //! Opens the store and the seed, and checks they belong together (see NodeSeed::LoadForStore).
    void OpenStoreAndSeed();
    std::vector<ZmqSubscription> ResolveZmq();
    void StartPeers();
    void StartChannels();
    void StartRpcServer();
    void RegisterRpcMethods();
    nlohmann::json GetInfo();

    const DaemonSettings m_settings;
    //! Keeps the CPUs awake after channel activity (-busypollus). Declared first so that it
    //! outlives every thread that touches it.
    std::unique_ptr<IdlePoller> m_idle_poller;
    std::optional<DatadirLock> m_lock;
    std::unique_ptr<rpc::JsonRpcClient> m_rpc_client;
    std::unique_ptr<rpc::BitcoindClient> m_bitcoind;
    rpc::NetworkInfo m_bitcoind_info;
    std::unique_ptr<BitcoindChainSource> m_chain_source;
    std::unique_ptr<store::Env> m_store;
    std::optional<PrivKey> m_node_key;
    std::optional<PubKey> m_node_id;
    //! The peers' event loop: one thread runs every connection.
    asio::io_context m_io;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> m_io_work;
    std::unique_ptr<PeerManager> m_peers;
    std::optional<asio::ip::tcp::endpoint> m_p2p_endpoint;
    std::thread m_io_thread;
    std::unique_ptr<WatchJournal> m_watch_journal;
    std::unique_ptr<ChainService> m_chain;
    std::unique_ptr<RpcServer> m_rpc_server;
    //! The node seed: channel keys derive from it (HMAC-SHA256(seed, "channel/<index>")).
    std::optional<NodeSeed> m_seed;
    //! bitcoind's wallet (-bitcoin.wallet), which funds channels and receives closes.
    std::unique_ptr<rpc::BitcoindClient> m_wallet_rpc;
    std::unique_ptr<PeerManagerLink> m_peer_link;
    std::unique_ptr<BitcoindWallet> m_channel_wallet;
    std::unique_ptr<ChainServiceLink> m_chain_link;
    std::unique_ptr<ChannelManager> m_channels;
    std::unique_ptr<ChainSourceGossipChain> m_gossip_chain;
    std::unique_ptr<GossipManager> m_gossip;
    std::unique_ptr<InvoiceStore> m_invoice_store;
    std::unique_ptr<InvoiceService> m_invoices;
    //! Decides every HTLC: pays our invoices, forwards, sends our payments.
    std::unique_ptr<HtlcRouter> m_router;
    std::atomic<bool> m_stop_requested{false};
};

} // namespace sidebolt

#endif
