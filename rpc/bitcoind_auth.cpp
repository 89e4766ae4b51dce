#include "rpc/bitcoind_auth.h"

#include <cstdlib>

namespace sidebolt::rpc {

std::filesystem::path DefaultBitcoinDatadir()
{
    const char* home = std::getenv("HOME");
    const std::filesystem::path base = (home && *home) ? home : "/";
    return base / ".bitcoin";
}

std::filesystem::path BitcoindCookiePath(const std::filesystem::path& datadir, Network network)
{
    const auto subdir = Params(network).datadir_subdir;
    return subdir.empty() ? datadir / ".cookie" : datadir / subdir / ".cookie";
}

JsonRpcConfig DefaultBitcoindRpcConfig(Network network, const std::optional<std::filesystem::path>& datadir)
{
    JsonRpcConfig config;
    config.port = Params(network).rpc_port;
    config.auth = CookieAuth{BitcoindCookiePath(datadir.value_or(DefaultBitcoinDatadir()), network)};
    return config;
}

} // namespace sidebolt::rpc
