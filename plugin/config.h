#ifndef SIDEBOLT_PLUGIN_CONFIG_H
#define SIDEBOLT_PLUGIN_CONFIG_H

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sidebolt {

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

//! A key the program accepts, with its help text. Hidden keys are for tests and not listed.
struct ConfigKey {
    std::string name;
    std::string help;
    bool hidden{false};
    //! Refused in a config file (e.g. datadir: the file lives inside it).
    bool command_line_only{false};
};

//! bitcoind-style settings: `-key=value`, `-key` (= 1), `-nokey` (= 0) on the command line, and
//! `key=value` lines in a config file. The command line wins over the file; unknown keys and
//! malformed lines are errors, so a typo never silently falls back to a default.
class Config
{
public:
    explicit Config(std::vector<ConfigKey> known_keys) : m_known(std::move(known_keys)) {}

    //! Parses argv; words that do not start with '-' are returned as positional arguments.
    std::vector<std::string> ParseCommandLine(int argc, const char* const argv[]);
    //! Reads `path`; keys already given on the command line keep their command-line value.
    void ReadFile(const std::string& path);

    std::optional<std::string> Get(std::string_view key) const;
    std::string Get(std::string_view key, std::string_view fallback) const;
    int64_t GetInt(std::string_view key, int64_t fallback) const;
    bool GetBool(std::string_view key, bool fallback) const;
    bool Has(std::string_view key) const { return Get(key).has_value(); }

    //! "  -key=<...>  help" lines for every visible key.
    std::string HelpText() const;

private:
    void Set(std::string key, std::string value, bool from_command_line, const std::string& where);
    const ConfigKey* Find(std::string_view key) const;

    std::vector<ConfigKey> m_known;
    std::map<std::string, std::string, std::less<>> m_values;
    std::map<std::string, bool, std::less<>> m_from_command_line;
};

} // namespace sidebolt

#endif
