#include "plugin/settings.h"

#include "plugin/datadir.h"
#include "plugin/defaults.h"
#include "rpc/bitcoind_auth.h"
#include "util/hex.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <filesystem>

namespace sidebolt {

std::vector<ConfigKey> DaemonConfigKeys()
{
    return {
        {"datadir", "data directory: seed, store, log, RPC cookie (default " + std::string(DEFAULT_DATADIR) + ")", false, true},
        {"conf", "config file (default <datadir>/" + std::string(CONFIG_FILE_NAME) + ")", false, true},
        {"network", "mainnet, testnet, testnet4, signet or regtest (default mainnet); must match bitcoind"},
        {"loglevel", "trace, debug, info, warn or error (default info); the log is <datadir>/debug.log"},
        {"printtoconsole", "also log to stderr (default 0)"},
        {"rpcbind", "address of the JSON-RPC server (default 127.0.0.1; keep it on loopback)"},
        {"rpcport", "JSON-RPC port (default " + std::to_string(DEFAULT_RPC_PORT) + "; 0 picks a free one); written to <datadir>/rpc.endpoint"},
        {"rpcthreads", "RPC calls served at once; each waiting `pay` or `wait*` call holds one (default " + std::to_string(DEFAULT_RPC_THREADS) + ", at most 1024)"},
        {"busypollus", "microseconds the CPUs stay awake after channel activity, kept so by threads spinning at idle priority that give way to any other; a woken CPU answers without its wake-up delay (default " + std::to_string(DEFAULT_BUSY_POLL_US) + ", at most 1000000; 0: never; up to " + std::to_string(MAX_BUSY_POLL_THREADS) + " CPUs)"},
        {"listen", "accept incoming Lightning (BOLT 8) connections (default 1)"},
        {"bind", "address:port to listen on for peers (default 0.0.0.0:" + std::to_string(DEFAULT_P2P_PORT) + "; port 0 picks a free one)"},
        {"pinginterval", "seconds between pings to each peer; a peer that does not answer within this (at most 30 s) is dropped (default 60)"},
        {"bitcoin.rpcconnect", "bitcoind RPC host (default 127.0.0.1)"},
        {"bitcoin.rpcport", "bitcoind RPC port (default: the network's, e.g. 8332, 18443 on regtest)"},
        {"bitcoin.rpccookiefile", "bitcoind's cookie file (default <bitcoin.datadir>/<network>/.cookie)"},
        {"bitcoin.datadir", "bitcoind's data directory, to find its cookie (default ~/.bitcoin)"},
        {"bitcoin.rpcuser", "bitcoind RPC user (instead of the cookie)"},
        {"bitcoin.rpcpassword", "bitcoind RPC password (instead of the cookie)"},
        {"bitcoin.rpctimeout", "seconds per bitcoind RPC call (default 60)"},
        {"bitcoin.startuptimeout", "seconds to wait for bitcoind at startup before giving up (default 60)"},
        {"bitcoin.zmqpubrawblock", "bitcoind's zmqpubrawblock endpoint (default: ask bitcoind)"},
        {"bitcoin.zmqpubrawtx", "bitcoind's zmqpubrawtx endpoint (default: ask bitcoind)"},
        {"bitcoin.zmqpubhashblock", "bitcoind's zmqpubhashblock endpoint (default: ask bitcoind)"},
        {"bitcoin.zmqpubsequence", "bitcoind's zmqpubsequence endpoint (default: ask bitcoind)"},
        {"bitcoin.zmq", "0 ignores bitcoind's ZMQ notifications and follows the chain by polling (default 1)"},
        {"bitcoin.pollinterval", "milliseconds between getbestblockhash polls without ZMQ (default 1000)"},
        {"feerate.floor", "lowest feerate ever used, sat per 1000 weight units (default 253)"},
        {"bitcoin.wallet", "bitcoind wallet that funds channels and receives closes (default: bitcoind's default wallet)"},
        {"channel.minsize", "smallest channel we open or accept, in satoshis (default 20000)"},
        {"channel.maxpendingopens", "most channel opens in progress with one peer, both directions (default 4)"},
        {"channel.confirmations", "confirmations of the funding transaction before channel_ready, as fundee (default 3)"},
        {"channel.toselfdelay", "blocks the peer must wait for its own funds after a unilateral close (default 144)"},
        {"channel.maxtoselfdelay", "largest to_self_delay we accept from a peer (default 2016)"},
        {"channel.maxacceptedhtlcs", "most HTLCs the peer may offer us at once (default 483, the maximum)"},
        {"channel.htlcminimummsat", "smallest HTLC we accept, msat (default 1)"},
        {"channel.maxhtlcinflightmsat", "most value in HTLCs the peer may offer us at once, msat (default: the capacity)"},
        {"channel.reserveppm", "reserve the peer must keep, in millionths of the capacity (default 10000: 1%)"},
        {"channel.maxdustexposuremsat", "most value in dust HTLCs, msat (default 50000000)"},
        {"feebase", "base fee we charge to forward a payment, msat (default 1000)"},
        {"feeppm", "proportional fee we charge to forward, millionths of the amount (default 10)"},
        {"cltvdelta", "blocks we add to an HTLC's expiry when we forward it (default 34, at least 18)"},
        {"alias", "the name in our node_announcement, at most 32 bytes (default: sidebolt- and our node id's start)"},
        {"color", "the color in our node_announcement, 6 hex digits (default 3399ff)"},
        {"announceaddr", "where peers can reach us, announced in node_announcement: host:port, comma-separated "
                         "(IPv4, [IPv6], a .onion v3 or a DNS name; default: none)"},
        {"gossip.flushms", "milliseconds between gossip broadcasts to peers (default 60000, BOLT 7's minute)"},
        {"debugzmqdrop", "test only: drop this many ZMQ messages to simulate loss", /*hidden=*/true},
        {"devcrashaftersend", "test only: kill -9 ourselves just after sending a peer message of this BOLT type", /*hidden=*/true},
        {"developer", "test only: enable dev- RPCs that can lose funds (dev-signlastcommitment)", /*hidden=*/true},
    };
}

namespace {
Network ParseNetworkSetting(const Config& config)
{
    const std::string name = config.Get("network", "mainnet");
    const auto network = ParseNetwork(name);
    if (!network) throw ConfigError("unknown network '" + name + "' (use mainnet, testnet, testnet4, signet or regtest)");
    return *network;
}

int ParsePort(const Config& config, const std::string& key, int fallback, bool allow_zero)
{
    const int64_t port = config.GetInt(key, fallback);
    if (port < (allow_zero ? 0 : 1) || port > 65535) throw ConfigError("setting '" + key + "' is not a valid port");
    return static_cast<int>(port);
}

void ParseP2p(const Config& config, DaemonSettings& s)
{
    s.listen = config.GetBool("listen", true);
    const std::string bind = config.Get("bind", "0.0.0.0:" + std::to_string(DEFAULT_P2P_PORT));
    const auto colon = bind.rfind(':');
    if (colon == std::string::npos || colon == 0) throw ConfigError("setting 'bind' must be address:port, got '" + bind + "'");
    s.p2p_bind = bind.substr(0, colon);
    if (s.p2p_bind.size() >= 2 && s.p2p_bind.front() == '[' && s.p2p_bind.back() == ']') {
        s.p2p_bind = s.p2p_bind.substr(1, s.p2p_bind.size() - 2);
    }
    const std::string port = bind.substr(colon + 1);
    int value = -1;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value < 0 || value > 65535) {
        throw ConfigError("setting 'bind' has an invalid port '" + port + "'");
    }
    s.p2p_port = value;
    const int64_t ping = config.GetInt("pinginterval", 60);
    if (ping < 1) throw ConfigError("setting 'pinginterval' must be at least 1 second");
    s.ping_interval = std::chrono::seconds(ping);
}

void ParseBitcoind(const Config& config, DaemonSettings& s)
{
    std::optional<std::filesystem::path> bitcoin_datadir;
    if (const auto dir = config.Get("bitcoin.datadir")) bitcoin_datadir = ExpandHome(*dir);
    s.bitcoind = rpc::DefaultBitcoindRpcConfig(s.network, bitcoin_datadir);
    s.bitcoind.host = config.Get("bitcoin.rpcconnect", s.bitcoind.host);
    s.bitcoind.port = static_cast<uint16_t>(ParsePort(config, "bitcoin.rpcport", s.bitcoind.port, false));
    s.bitcoind.call_timeout = std::chrono::seconds(config.GetInt("bitcoin.rpctimeout", 60));
    const bool has_user = config.Has("bitcoin.rpcuser") || config.Has("bitcoin.rpcpassword");
    // An empty value unsets the key, so a command line can override a cookie from the file.
    const std::string cookie_file = config.Get("bitcoin.rpccookiefile", "");
    if (has_user && !cookie_file.empty()) {
        throw ConfigError("give either bitcoin.rpccookiefile or bitcoin.rpcuser/bitcoin.rpcpassword, not both");
    }
    std::string auth_kind;
    if (has_user) {
        if (!config.Has("bitcoin.rpcuser") || !config.Has("bitcoin.rpcpassword")) {
            throw ConfigError("bitcoin.rpcuser and bitcoin.rpcpassword go together");
        }
        s.bitcoind.auth = rpc::PasswordAuth{*config.Get("bitcoin.rpcuser"), *config.Get("bitcoin.rpcpassword")};
        auth_kind = "user " + *config.Get("bitcoin.rpcuser");
    } else {
        if (!cookie_file.empty()) s.bitcoind.auth = rpc::CookieAuth{ExpandHome(cookie_file)};
        auth_kind = "cookie " + std::get<rpc::CookieAuth>(s.bitcoind.auth).path.string();
    }
    s.bitcoind_description = s.bitcoind.host + ":" + std::to_string(s.bitcoind.port) + " (" + auth_kind + ")";
    s.bitcoind_startup_timeout = std::chrono::seconds(config.GetInt("bitcoin.startuptimeout", 60));
    for (const char* topic : {"rawblock", "rawtx", "hashblock", "sequence"}) {
        if (const auto endpoint = config.Get(std::string("bitcoin.zmqpub") + topic)) s.zmq.push_back({topic, *endpoint});
    }
    s.use_zmq = config.GetBool("bitcoin.zmq", true);
    if (!s.use_zmq && !s.zmq.empty()) throw ConfigError("bitcoin.zmq=0 contradicts the bitcoin.zmqpub* endpoints given");
    s.poll_interval = std::chrono::milliseconds(config.GetInt("bitcoin.pollinterval", 1000));
    if (s.poll_interval.count() < 10) throw ConfigError("bitcoin.pollinterval must be at least 10 ms");
}
int64_t GetBounded(const Config& config, const std::string& key, int64_t fallback, int64_t min, int64_t max)
{
    const int64_t value = config.GetInt(key, fallback);
    if (value < min || value > max) {
        throw ConfigError("setting '" + key + "' must be from " + std::to_string(min) + " to " + std::to_string(max));
    }
    return value;
}

void ParseChannelPolicy(const Config& config, DaemonSettings& s)
{
    OpenPolicy& p = s.channel_policy;
    p.min_channel_size = Sat{static_cast<uint64_t>(GetBounded(config, "channel.minsize", 20'000, 1'000, 2'100'000'000'000'000))};
    s.max_pending_opens = static_cast<size_t>(GetBounded(config, "channel.maxpendingopens", 4, 1, 1000));
    p.minimum_depth = static_cast<uint32_t>(GetBounded(config, "channel.confirmations", 3, 1, 144));
    p.to_self_delay = static_cast<uint16_t>(GetBounded(config, "channel.toselfdelay", 144, 6, 2016));
    p.max_to_self_delay = static_cast<uint16_t>(GetBounded(config, "channel.maxtoselfdelay", 2016, 6, 65535));
    // BOLT 2: "max_accepted_htlcs is greater than 483" MUST fail, so we never send more.
    p.max_accepted_htlcs = static_cast<uint16_t>(GetBounded(config, "channel.maxacceptedhtlcs", 483, 1, 483));
    p.htlc_minimum = Msat{static_cast<uint64_t>(GetBounded(config, "channel.htlcminimummsat", 1, 1, 1'000'000'000))};
    if (config.Has("channel.maxhtlcinflightmsat")) {
        p.max_htlc_value_in_flight = Msat{static_cast<uint64_t>(
            GetBounded(config, "channel.maxhtlcinflightmsat", 0, 1, std::numeric_limits<int64_t>::max()))};
    }
    p.channel_reserve_ppm = static_cast<uint32_t>(GetBounded(config, "channel.reserveppm", 10'000, 0, 200'000));
    p.max_dust_exposure = Msat{static_cast<uint64_t>(
        GetBounded(config, "channel.maxdustexposuremsat", 50'000'000, 0, std::numeric_limits<int64_t>::max()))};
    ForwardPolicy& f = s.forward_policy;
    f.fee_base_msat = Msat{static_cast<uint64_t>(GetBounded(config, "feebase", 1000, 0, 4'294'967'295))};
    f.fee_proportional_millionths = static_cast<uint32_t>(GetBounded(config, "feeppm", 10, 0, 1'000'000));
    // BOLT 2 "cltv_expiry_delta Selection": below 18 blocks is too little to act on chain in time.
    f.cltv_expiry_delta = static_cast<uint16_t>(GetBounded(config, "cltvdelta", 34, 18, 2016));
    f.htlc_minimum_msat = p.htlc_minimum;
}
//! RFC 4648 base32 (lowercase, no padding), as Tor v3 onion names are written.
std::optional<Bytes> DecodeOnionBase32(std::string_view text)
{
    Bytes out;
    uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        int value = -1;
        if (c >= 'a' && c <= 'z') value = c - 'a';
        if (c >= '2' && c <= '7') value = c - '2' + 26;
        if (value < 0) return std::nullopt;
        buffer = buffer << 5 | static_cast<uint32_t>(value);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>(buffer >> bits));
        }
    }
    return out;
}

//! "1.2.3.4:9735", "[::1]:9735", "<56 base32>.onion:9735" or "host.example:9735".
std::optional<NodeAddress> ParseNodeAddress(const std::string& text)
{
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return std::nullopt;
    const std::string port_text = text.substr(colon + 1);
    if (port_text.empty() || port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), ::isdigit)) return std::nullopt;
    const int port = std::stoi(port_text);
    if (port < 1 || port > 65535) return std::nullopt;
    std::string host = text.substr(0, colon);
    NodeAddress address{NodeAddress::Type::kDns, {}, static_cast<uint16_t>(port)};
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        in6_addr ip6{};
        if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &ip6) != 1) return std::nullopt;
        address.type = NodeAddress::Type::kIpv6;
        address.address.assign(reinterpret_cast<const uint8_t*>(&ip6), reinterpret_cast<const uint8_t*>(&ip6) + 16);
        return address;
    }
    if (in_addr ip4{}; inet_pton(AF_INET, host.c_str(), &ip4) == 1) {
        address.type = NodeAddress::Type::kIpv4;
        address.address.assign(reinterpret_cast<const uint8_t*>(&ip4), reinterpret_cast<const uint8_t*>(&ip4) + 4);
        return address;
    }
    if (host.size() == 56 + 6 && host.ends_with(".onion")) {
        const auto key = DecodeOnionBase32(host.substr(0, 56));
        if (!key || key->size() != 35) return std::nullopt;
        address.type = NodeAddress::Type::kTorV3;
        address.address = *key;
        return address;
    }
    // BOLT 7 type 5: a hostname of printable ASCII, at most 255 bytes.
    const bool printable = std::all_of(host.begin(), host.end(), [](char c) { return c > 32 && c < 127; });
    if (host.empty() || host.size() > 255 || !printable) return std::nullopt;
    address.address.assign(host.begin(), host.end());
    return address;
}

void ParseGossip(const Config& config, DaemonSettings& s)
{
    s.alias = config.Get("alias", "");
    // BOLT 7: "alias ... MUST set to a valid UTF-8 string, with any alias trailing-bytes equal to 0".
    if (s.alias.size() > 32) throw ConfigError("alias is longer than 32 bytes");
    if (s.alias.find('\0') != std::string::npos) throw ConfigError("alias may not contain a zero byte");
    const std::string color = config.Get("color", "3399ff");
    const auto color_bytes = TryParseHex(color);
    if (!color_bytes || color_bytes->size() != 3) throw ConfigError("color must be 6 hex digits, e.g. 3399ff");
    std::copy(color_bytes->begin(), color_bytes->end(), s.color.begin());
    if (const auto addresses = config.Get("announceaddr")) {
        std::string rest = *addresses;
        while (!rest.empty()) {
            const size_t comma = rest.find(',');
            const std::string one = rest.substr(0, comma);
            const auto address = ParseNodeAddress(one);
            if (!address) throw ConfigError("announceaddr '" + one + "' is not host:port (IPv4, [IPv6], .onion v3 or DNS)");
            s.announce_addresses.push_back(*address);
            rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
        }
    }
    s.gossip_flush = std::chrono::milliseconds(GetBounded(config, "gossip.flushms", 60'000, 10, 3'600'000));
}
} // namespace

DaemonSettings LoadDaemonSettings(int argc, const char* const argv[])
{
    Config config(DaemonConfigKeys());
    const auto positional = config.ParseCommandLine(argc, argv);
    if (!positional.empty()) throw ConfigError("unexpected argument '" + positional.front() + "' (settings are -key=value)");
    DaemonSettings s;
    s.datadir = ExpandHome(config.Get("datadir", DEFAULT_DATADIR));
    const auto conf_path = config.Has("conf") ? ExpandHome(*config.Get("conf")) : s.datadir / CONFIG_FILE_NAME;
    // The config file lives in the datadir, so -datadir itself is only taken from the command line.
    if (config.Has("conf") || std::filesystem::exists(conf_path)) config.ReadFile(conf_path.string());
    s.network = ParseNetworkSetting(config);
    s.log_level = config.Get("loglevel", "info");
    s.print_to_console = config.GetBool("printtoconsole", false);
    s.rpc_bind = config.Get("rpcbind", DEFAULT_RPC_BIND);
    s.rpc_port = ParsePort(config, "rpcport", DEFAULT_RPC_PORT, true);
    s.rpc_threads = static_cast<size_t>(GetBounded(config, "rpcthreads", DEFAULT_RPC_THREADS, 1, 1024));
    s.busy_poll = std::chrono::microseconds(GetBounded(config, "busypollus", DEFAULT_BUSY_POLL_US, 0, 1'000'000));
    ParseP2p(config, s);
    ParseBitcoind(config, s);
    const int64_t floor = config.GetInt("feerate.floor", 253);
    if (floor < 253) throw ConfigError("feerate.floor below 253 sat/kw would make transactions that do not relay");
    s.feerate_floor_per_kw = static_cast<uint32_t>(floor);
    s.debug_zmq_drop = static_cast<unsigned>(config.GetInt("debugzmqdrop", 0));
    if (config.Has("devcrashaftersend")) {
        s.dev_crash_after_send = static_cast<uint16_t>(GetBounded(config, "devcrashaftersend", 0, 1, 65535));
    }
    s.developer = config.GetBool("developer", false);
    if (const auto wallet = config.Get("bitcoin.wallet")) s.bitcoin_wallet = *wallet;
    ParseChannelPolicy(config, s);
    ParseGossip(config, s);
    return s;
}

} // namespace sidebolt
