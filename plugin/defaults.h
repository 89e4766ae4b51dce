#ifndef SIDEBOLT_PLUGIN_DEFAULTS_H
#define SIDEBOLT_PLUGIN_DEFAULTS_H

#include <cstddef>

namespace sidebolt {

inline constexpr const char* DEFAULT_DATADIR = "~/.sidebolt";
inline constexpr const char* CONFIG_FILE_NAME = "sidebolt.conf";
inline constexpr const char* LOG_FILE_NAME = "debug.log";
inline constexpr const char* DEFAULT_RPC_BIND = "127.0.0.1";
inline constexpr int DEFAULT_RPC_PORT = 9736;
inline constexpr int DEFAULT_P2P_PORT = 9735;
//! Longer than a payment's wait for its peer's answer on a fast link (under 1 ms on loopback).
inline constexpr int DEFAULT_BUSY_POLL_US = 2000;
//! A payment's threads run on a few CPUs; keeping every core of a large machine awake would
//! spend power for little.
inline constexpr size_t MAX_BUSY_POLL_THREADS = 8;

} // namespace sidebolt

#endif
