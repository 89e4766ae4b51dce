#include "plugin/config.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <vector>

using namespace sidebolt;

namespace {
Config MakeConfig()
{
    return Config({{"datadir", "", false, true}, {"network", ""}, {"listen", ""}, {"bitcoin.rpcport", ""}});
}

std::vector<std::string> Parse(Config& config, std::initializer_list<const char*> args)
{
    std::vector<const char*> argv{"prog"};
    argv.insert(argv.end(), args.begin(), args.end());
    return config.ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

std::filesystem::path WriteTemp(const std::string& name, const std::string& text)
{
    const auto path = std::filesystem::temp_directory_path() / name;
    std::ofstream(path) << text;
    return path;
}
} // namespace

TEST_CASE("command line: values, flags, negation, positional arguments")
{
    Config config = MakeConfig();
    const auto rest = Parse(config, {"-network=regtest", "--listen", "-bitcoin.rpcport=18443", "getinfo", "-x"});
    CHECK(config.Get("network", "") == "regtest");
    CHECK(config.GetBool("listen", false));
    CHECK(config.GetInt("bitcoin.rpcport", 0) == 18443);
    CHECK(rest == std::vector<std::string>{"getinfo", "-x"});
    Config negated = MakeConfig();
    Parse(negated, {"-nolisten"});
    CHECK_FALSE(negated.GetBool("listen", true));
}

TEST_CASE("unknown keys and malformed values are errors")
{
    Config config = MakeConfig();
    CHECK_THROWS_AS(Parse(config, {"-netwrk=regtest"}), ConfigError);
    Config bad_int = MakeConfig();
    Parse(bad_int, {"-bitcoin.rpcport=12x"});
    CHECK_THROWS_AS(bad_int.GetInt("bitcoin.rpcport", 0), ConfigError);
    Config bad_bool = MakeConfig();
    Parse(bad_bool, {"-listen=maybe"});
    CHECK_THROWS_AS(bad_bool.GetBool("listen", false), ConfigError);
}

TEST_CASE("config file: comments, command line wins, bad lines and unknown keys refused")
{
    Config config = MakeConfig();
    Parse(config, {"-network=signet"});
    config.ReadFile(WriteTemp("sb_conf_ok.conf", "# comment\n network = regtest \nlisten=0 # trailing\n\n").string());
    CHECK(config.Get("network", "") == "signet");
    CHECK_FALSE(config.GetBool("listen", true));

    Config unknown = MakeConfig();
    CHECK_THROWS_WITH_AS(unknown.ReadFile(WriteTemp("sb_conf_unknown.conf", "listen=1\nfoo=bar\n").string()),
                         doctest::Contains("line 2"), ConfigError);
    Config malformed = MakeConfig();
    CHECK_THROWS_AS(malformed.ReadFile(WriteTemp("sb_conf_bad.conf", "listen\n").string()), ConfigError);
    Config file_only = MakeConfig();
    CHECK_THROWS_WITH_AS(file_only.ReadFile(WriteTemp("sb_conf_datadir.conf", "datadir=/x\n").string()),
                         doctest::Contains("only be given on the command line"), ConfigError);
    Config missing = MakeConfig();
    CHECK_THROWS_AS(missing.ReadFile("/nonexistent/sidebolt.conf"), ConfigError);
}
