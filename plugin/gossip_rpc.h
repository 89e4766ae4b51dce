#ifndef SIDEBOLT_PLUGIN_GOSSIP_RPC_H
#define SIDEBOLT_PLUGIN_GOSSIP_RPC_H

#include "node/gossip_manager.h"
#include "rpc/server.h"

#include <cstdint>
#include <functional>

namespace sidebolt {

//! listnodes, listgraphchannels, getroute: the public graph as gossip (BOLT 7) taught us.
void RegisterGossipRpcs(RpcServer& server, GossipManager& gossip, const PubKey& our_id, std::function<uint32_t()> height);

} // namespace sidebolt

#endif
