#include "plugin/config.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace sidebolt {
namespace {
std::string Trim(std::string_view s)
{
    const auto begin = s.find_first_not_of(" \t\r");
    if (begin == std::string_view::npos) return {};
    const auto end = s.find_last_not_of(" \t\r");
    return std::string(s.substr(begin, end - begin + 1));
}
} // namespace

const ConfigKey* Config::Find(std::string_view key) const
{
    for (const auto& k : m_known) {
        if (k.name == key) return &k;
    }
    return nullptr;
}

void Config::Set(std::string key, std::string value, bool from_command_line, const std::string& where)
{
    const ConfigKey* known = Find(key);
    if (!known) throw ConfigError("unknown setting '" + key + "' " + where);
    if (known->command_line_only && !from_command_line) {
        throw ConfigError("setting '" + key + "' can only be given on the command line, not " + where);
    }
    if (!from_command_line && m_from_command_line.contains(key)) return;
    m_from_command_line[key] = from_command_line;
    m_values[std::move(key)] = std::move(value);
}

std::vector<std::string> Config::ParseCommandLine(int argc, const char* const argv[])
{
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.empty() || arg[0] != '-' || !positional.empty()) {
            positional.emplace_back(arg);
            continue;
        }
        arg.remove_prefix(arg.starts_with("--") ? 2 : 1);
        const auto eq = arg.find('=');
        std::string key(arg.substr(0, eq));
        const bool has_value = eq != std::string_view::npos;
        const bool negated = !has_value && key.starts_with("no") && !Find(key) && Find(key.substr(2));
        if (negated) key.erase(0, 2);
        std::string value = has_value ? std::string(arg.substr(eq + 1)) : (negated ? "0" : "1");
        Set(std::move(key), std::move(value), true, "on the command line");
    }
    return positional;
}

void Config::ReadFile(const std::string& path)
{
    std::ifstream in(path);
    if (!in) throw ConfigError("cannot read config file " + path);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        const std::string where = "in " + path + " line " + std::to_string(number);
        const std::string content = Trim(line.substr(0, line.find('#')));
        if (content.empty()) continue;
        const auto eq = content.find('=');
        if (eq == std::string::npos) throw ConfigError("expected key=value " + where);
        Set(Trim(std::string_view(content).substr(0, eq)), Trim(std::string_view(content).substr(eq + 1)), false, where);
    }
}

std::optional<std::string> Config::Get(std::string_view key) const
{
    const auto it = m_values.find(key);
    if (it == m_values.end()) return std::nullopt;
    return it->second;
}

std::string Config::Get(std::string_view key, std::string_view fallback) const
{
    return Get(key).value_or(std::string(fallback));
}

int64_t Config::GetInt(std::string_view key, int64_t fallback) const
{
    const auto value = Get(key);
    if (!value) return fallback;
    int64_t out{};
    const auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), out);
    if (ec != std::errc{} || ptr != value->data() + value->size()) {
        throw ConfigError("setting '" + std::string(key) + "' must be an integer, got '" + *value + "'");
    }
    return out;
}

bool Config::GetBool(std::string_view key, bool fallback) const
{
    const auto value = Get(key);
    if (!value) return fallback;
    if (*value == "1" || *value == "true") return true;
    if (*value == "0" || *value == "false") return false;
    throw ConfigError("setting '" + std::string(key) + "' must be 0 or 1, got '" + *value + "'");
}

std::string Config::HelpText() const
{
    std::ostringstream out;
    for (const auto& k : m_known) {
        if (!k.hidden) out << "  -" << k.name << "\n      " << k.help << "\n";
    }
    return out.str();
}

} // namespace sidebolt
