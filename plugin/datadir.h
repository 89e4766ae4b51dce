#ifndef SIDEBOLT_PLUGIN_DATADIR_H
#define SIDEBOLT_PLUGIN_DATADIR_H

#include "util/bytes.h"

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace sidebolt {

struct DatadirError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

//! Exclusive advisory lock (flock) on the datadir itself, held for the process lifetime, so two
//! daemons can never share one store. No lock file is created.
class DatadirLock
{
public:
    explicit DatadirLock(const std::filesystem::path& dir);
    ~DatadirLock();
    DatadirLock(const DatadirLock&) = delete;
    DatadirLock& operator=(const DatadirLock&) = delete;

private:
    int m_fd{-1};
};

//! Writes `data` to `path` with mode 0600 via a temporary file, fsync and rename, so a crash
//! leaves either the old or the new content, never a torn file.
void WritePrivateFileAtomic(const std::filesystem::path& path, ByteSpan data);
std::optional<Bytes> ReadWholeFile(const std::filesystem::path& path);
//! `~/.name` style default directories: expands a leading '~' with $HOME.
std::filesystem::path ExpandHome(const std::string& path);

//! The daemon's RPC credentials: "__cookie__:<random hex>" in <datadir>/.cookie (0600), and the
//! address it listens on in <datadir>/rpc.endpoint, so sidebolt-cli -datadir=DIR needs nothing else.
struct RpcCookie {
    static constexpr const char* USER = "__cookie__";
    static constexpr const char* COOKIE_FILE = ".cookie";
    static constexpr const char* ENDPOINT_FILE = "rpc.endpoint";

    static std::string Generate(const std::filesystem::path& datadir);
    static void WriteEndpoint(const std::filesystem::path& datadir, const std::string& host, int port);
    static void Remove(const std::filesystem::path& datadir);
};

} // namespace sidebolt

#endif
