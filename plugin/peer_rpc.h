#ifndef SIDEBOLT_PLUGIN_PEER_RPC_H
#define SIDEBOLT_PLUGIN_PEER_RPC_H

#include "net/peer_manager.h"
#include "rpc/server.h"

#include <cstdint>
#include <functional>
#include <string>

namespace sidebolt {

//! Told where a peer was reached by the connect RPC, so channels can reconnect there.
using ConnectedOutHook = std::function<void(const PubKey& node_id, const std::string& host, uint16_t port)>;

//! connect, disconnect, listpeers, ping: the operator's view of BOLT 8 peers.
void RegisterPeerRpcs(RpcServer& server, PeerManager& peers, ConnectedOutHook on_connected_out = {});

} // namespace sidebolt

#endif
