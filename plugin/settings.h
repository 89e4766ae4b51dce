#ifndef SIDEBOLT_PLUGIN_SETTINGS_H
#define SIDEBOLT_PLUGIN_SETTINGS_H

#include "primitives/network.h"
#include "chain/zmq_listener.h"
#include "channel/opening.h"
#include "pay/route.h"
#include "wire/gossip_messages.h"
#include "plugin/config.h"
#include "plugin/defaults.h"
#include "rpc/json_rpc_client.h"
#include "rpc/server.h"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sidebolt {

//! Every key sideboltd accepts, on the command line or in <datadir>/sidebolt.conf.
std::vector<ConfigKey> DaemonConfigKeys();

//! The validated daemon configuration. Parsing it touches no file but the config file.
//! sidebolt's default forwarding policy (-feebase 1000, -feeppm 10, -cltvdelta 34).
inline ForwardPolicy DefaultForwardPolicy()
{
    ForwardPolicy policy;
    policy.fee_base_msat = Msat{1000};
    policy.fee_proportional_millionths = 10;
    policy.cltv_expiry_delta = 34;
    return policy;
}

struct DaemonSettings {
    std::filesystem::path datadir;
    Network network{Network::Mainnet};
    std::string log_level{"info"};
    bool print_to_console{false};

    std::string rpc_bind{"127.0.0.1"};
    int rpc_port{0};
    size_t rpc_threads{DEFAULT_RPC_THREADS};
    //! How long the CPUs stay awake after channel activity (IdlePoller); zero: never.
    std::chrono::microseconds busy_poll{DEFAULT_BUSY_POLL_US};

    //! Accept incoming Lightning connections on p2p_bind:p2p_port.
    bool listen{true};
    std::string p2p_bind{"0.0.0.0"};
    int p2p_port{9735};
    std::chrono::seconds ping_interval{60};

    rpc::JsonRpcConfig bitcoind;
    std::string bitcoind_description; //!< host:port and auth kind, for messages (no secrets)
    std::chrono::seconds bitcoind_startup_timeout{60};
    //! Explicit ZMQ endpoints; empty means ask bitcoind (getzmqnotifications).
    std::vector<ZmqSubscription> zmq;
    //! false: ignore ZMQ entirely and follow by polling.
    bool use_zmq{true};
    std::chrono::milliseconds poll_interval{1000};
    uint32_t feerate_floor_per_kw{253};
    unsigned debug_zmq_drop{0};
    //! Test only: the daemon kills itself (SIGKILL) right after sending a message of this type.
    std::optional<uint16_t> dev_crash_after_send;
    //! -developer: RPCs for tests that can lose funds (dev-signlastcommitment).
    bool developer{false};

    //! bitcoind wallet that funds channels and receives closes; unset: bitcoind's default.
    std::optional<std::string> bitcoin_wallet;
    //! What we offer and accept in channel opens (channel.* keys).
    OpenPolicy channel_policy;
    size_t max_pending_opens{4};
    //! Our forwarding policy (-feebase, -feeppm, -cltvdelta).
    ForwardPolicy forward_policy = DefaultForwardPolicy();

    //! node_announcement (BOLT 7): -alias (empty: "sidebolt-" and our node id's first bytes),
    //! -color, -announceaddr.
    std::string alias;
    ByteArray<3> color{0x33, 0x99, 0xff};
    std::vector<NodeAddress> announce_addresses;
    //! How often queued gossip goes out to peers (-gossip.flushms).
    std::chrono::milliseconds gossip_flush{std::chrono::seconds(60)};
};

//! Reads the command line, then <datadir>/sidebolt.conf (or -conf) if it exists, and validates
//! everything. Throws ConfigError with a message naming the bad key.
DaemonSettings LoadDaemonSettings(int argc, const char* const argv[]);

} // namespace sidebolt

#endif
