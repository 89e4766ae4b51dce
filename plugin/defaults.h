#ifndef SIDEBOLT_PLUGIN_DEFAULTS_H
#define SIDEBOLT_PLUGIN_DEFAULTS_H

namespace sidebolt {

inline constexpr const char* DEFAULT_DATADIR = "~/.sidebolt";
inline constexpr const char* CONFIG_FILE_NAME = "sidebolt.conf";
inline constexpr const char* LOG_FILE_NAME = "debug.log";
inline constexpr const char* DEFAULT_RPC_BIND = "127.0.0.1";
inline constexpr int DEFAULT_RPC_PORT = 9736;
inline constexpr int DEFAULT_P2P_PORT = 9735;

} // namespace sidebolt

#endif
