#ifndef SIDEBOLT_PLUGIN_CHANNEL_RPC_H
#define SIDEBOLT_PLUGIN_CHANNEL_RPC_H

#include "node/channel_manager.h"
#include "primitives/network.h"
#include "rpc/bitcoind.h"
#include "rpc/server.h"

namespace sidebolt {

//! fundchannel, listchannels, close, listfunds: the operator's view of channels.
//! developer: also the dev- methods that can lose funds (dev-signlastcommitment).
void RegisterChannelRpcs(RpcServer& server, ChannelManager& channels, rpc::BitcoindClient& bitcoind, Network network,
                         bool developer);

} // namespace sidebolt

#endif
