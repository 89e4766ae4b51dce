#ifndef SIDEBOLT_PLUGIN_PAY_RPC_H
#define SIDEBOLT_PLUGIN_PAY_RPC_H

#include "node/channel_manager.h"
#include "primitives/network.h"
#include "rpc/server.h"

#include <cstdint>
#include <functional>

namespace sidebolt {

//! pay, keysend, listpays, listsendpays, setchannelfee: sending payments and our fees.
//! `policy_changed` hears each setchannelfee (our channel_updates announce it).
void RegisterPayRpcs(RpcServer& server, ChannelManager& channels, Network network, std::function<uint32_t()> height,
                     std::function<void(const ForwardPolicy&)> policy_changed);

} // namespace sidebolt

#endif
