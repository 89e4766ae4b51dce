// sidebolt-cli: bitcoin-cli-style client for sideboltd's JSON-RPC.
// Arguments are sent as JSON strings unless they look like a JSON object/array; the daemon
// converts numeric strings where it expects numbers, so no per-method table lives here.
#include "plugin/config.h"
#include "plugin/datadir.h"
#include "plugin/defaults.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

namespace {
using json = nlohmann::json;
using namespace sidebolt;

constexpr int EXIT_RPC_ERROR = 1;
constexpr int EXIT_CONNECTION = 2;
constexpr int EXIT_USAGE = 3;

std::vector<ConfigKey> CliKeys()
{
    return {
        {"datadir", "daemon data directory; its .cookie and rpc.endpoint are read (default " + std::string(DEFAULT_DATADIR) + ")"},
        {"rpcconnect", "daemon RPC host (default: from <datadir>/rpc.endpoint, else 127.0.0.1)"},
        {"rpcport", "daemon RPC port (default: from <datadir>/rpc.endpoint)"},
        {"rpccookiefile", "cookie file (default <datadir>/.cookie)"},
        {"rpcuser", "RPC user, instead of the cookie"},
        {"rpcpassword", "RPC password, instead of the cookie"},
        {"rpcwait", "wait up to this many seconds for the daemon to answer (default 0)"},
        {"rpcclienttimeout", "seconds to wait for a reply (default 900)"},
        {"named", "pass arguments as key=value pairs"},
        {"help", "show this help"},
        {"version", "print the version and exit"},
    };
}

struct Endpoint {
    std::string host;
    int port{0};
};

Endpoint FindEndpoint(const Config& config, const std::filesystem::path& datadir)
{
    Endpoint ep{config.Get("rpcconnect", "127.0.0.1"), 0};
    if (config.Has("rpcport")) {
        ep.port = static_cast<int>(config.GetInt("rpcport", 0));
        return ep;
    }
    if (const auto file = ReadWholeFile(datadir / RpcCookie::ENDPOINT_FILE)) {
        const std::string text(file->begin(), file->end());
        const auto colon = text.rfind(':');
        if (colon != std::string::npos) {
            if (!config.Has("rpcconnect")) ep.host = text.substr(0, colon);
            ep.port = std::stoi(text.substr(colon + 1));
            return ep;
        }
    }
    throw ConfigError("cannot find the daemon's RPC port: " + (datadir / RpcCookie::ENDPOINT_FILE).string() +
                      " is missing (is sideboltd running with -datadir=" + datadir.string() + "?); or pass -rpcport");
}

std::pair<std::string, std::string> FindCredentials(const Config& config, const std::filesystem::path& datadir)
{
    if (config.Has("rpcuser") || config.Has("rpcpassword")) return {config.Get("rpcuser", ""), config.Get("rpcpassword", "")};
    const auto path = config.Has("rpccookiefile") ? ExpandHome(*config.Get("rpccookiefile")) : datadir / RpcCookie::COOKIE_FILE;
    const auto cookie = ReadWholeFile(path);
    if (!cookie) throw ConfigError("cannot read the RPC cookie " + path.string() + " (is sideboltd running?)");
    std::string text(cookie->begin(), cookie->end());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    const auto colon = text.find(':');
    if (colon == std::string::npos) throw ConfigError("malformed cookie file " + path.string());
    return {text.substr(0, colon), text.substr(colon + 1)};
}

json BuildParams(const std::vector<std::string>& args, bool named)
{
    auto convert = [](const std::string& arg) -> json {
        if (arg.starts_with("{") || arg.starts_with("[")) {
            json parsed = json::parse(arg, nullptr, /*allow_exceptions=*/false);
            if (!parsed.is_discarded()) return parsed;
        }
        return arg;
    };
    json params = named ? json::object() : json::array();
    for (size_t i = 1; i < args.size(); ++i) {
        if (!named) {
            params.push_back(convert(args[i]));
            continue;
        }
        const auto eq = args[i].find('=');
        if (eq == std::string::npos) throw ConfigError("with -named, arguments are key=value; got '" + args[i] + "'");
        params[args[i].substr(0, eq)] = convert(args[i].substr(eq + 1));
    }
    return params;
}

void PrintResult(const json& result)
{
    if (result.is_null()) return;
    if (result.is_string()) {
        std::cout << result.get<std::string>() << "\n";
    } else {
        std::cout << result.dump(2) << "\n";
    }
}

int Run(int argc, char** argv)
{
    Config config(CliKeys());
    const auto args = config.ParseCommandLine(argc, argv);
    if (config.GetBool("version", false)) {
        std::cout << "sidebolt-cli v" << PROJECT_VERSION << "\n";
        return 0;
    }
    if (config.GetBool("help", false) || args.empty()) {
        std::cout << "Usage: sidebolt-cli [options] <method> [params]\n"
                     "       sidebolt-cli [options] help   (lists the daemon's methods)\n\nOptions:\n"
                  << config.HelpText();
        return args.empty() && !config.GetBool("help", false) ? EXIT_USAGE : 0;
    }
    const auto datadir = ExpandHome(config.Get("datadir", DEFAULT_DATADIR));
    const auto wait_until = std::chrono::steady_clock::now() + std::chrono::seconds(config.GetInt("rpcwait", 0));
    const json request = {{"jsonrpc", "1.0"}, {"id", "sidebolt-cli"}, {"method", args[0]},
                          {"params", BuildParams(args, config.GetBool("named", false))}};
    for (;;) {
        std::string failure;
        try {
            const Endpoint ep = FindEndpoint(config, datadir);
            const auto [user, password] = FindCredentials(config, datadir);
            httplib::Client client(ep.host, ep.port);
            client.set_basic_auth(user, password);
            client.set_read_timeout(std::chrono::seconds(config.GetInt("rpcclienttimeout", 900)));
            const auto res = client.Post("/", request.dump(), "application/json");
            if (!res) {
                failure = "could not connect to sideboltd at " + ep.host + ":" + std::to_string(ep.port) + ": " +
                          httplib::to_string(res.error());
            } else if (res->status == 401) {
                std::cerr << json{{"code", -401}, {"message", "authorization failed: wrong RPC credentials"}}.dump() << "\n";
                return EXIT_CONNECTION;
            } else {
                const json reply = json::parse(res->body);
                if (!reply["error"].is_null()) {
                    std::cerr << reply["error"].dump(2) << "\n";
                    return EXIT_RPC_ERROR;
                }
                PrintResult(reply["result"]);
                return 0;
            }
        } catch (const ConfigError& e) {
            failure = e.what();
        }
        if (std::chrono::steady_clock::now() >= wait_until) {
            std::cerr << json{{"code", -1}, {"message", failure}}.dump() << "\n";
            return EXIT_CONNECTION;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}
} // namespace

int main(int argc, char** argv)
{
    try {
        return Run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << json{{"code", -1}, {"message", e.what()}}.dump() << "\n";
        return EXIT_USAGE;
    }
}
