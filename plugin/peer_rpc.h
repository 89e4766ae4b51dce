#ifndef SIDEBOLT_PLUGIN_PEER_RPC_H
#define SIDEBOLT_PLUGIN_PEER_RPC_H

#include "net/peer_manager.h"
#include "rpc/server.h"

namespace sidebolt {

//! connect, disconnect, listpeers, ping: the operator's view of BOLT 8 peers.
void RegisterPeerRpcs(RpcServer& server, PeerManager& peers);

} // namespace sidebolt

#endif
