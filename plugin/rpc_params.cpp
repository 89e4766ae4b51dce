#include "plugin/rpc_params.h"

#include "primitives/tx.h"
#include "rpc/server.h"
#include "util/hex.h"

#include <charconv>
#include <cstdio>

namespace sidebolt {
namespace {
using json = nlohmann::json;

const json& Require(const json& params, size_t index, const std::string& name)
{
    if (index >= params.size() || params[index].is_null()) throw RpcException(RPC_INVALID_PARAMS, "missing parameter " + name);
    return params[index];
}
} // namespace

int64_t ParamInt(const json& params, size_t index, const std::string& name)
{
    const json& p = Require(params, index, name);
    if (p.is_number_integer()) return p.get<int64_t>();
    if (p.is_string()) {
        const auto& text = p.get_ref<const std::string&>();
        int64_t value{};
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc{} && end == text.data() + text.size()) return value;
    }
    throw RpcException(RPC_INVALID_PARAMETER, name + " must be an integer");
}

std::optional<int64_t> OptionalParamInt(const json& params, size_t index, const std::string& name)
{
    if (index >= params.size() || params[index].is_null()) return std::nullopt;
    return ParamInt(params, index, name);
}

std::optional<bool> OptionalParamBool(const json& params, size_t index, const std::string& name)
{
    if (index >= params.size() || params[index].is_null()) return std::nullopt;
    const json& p = params[index];
    if (p.is_boolean()) return p.get<bool>();
    if (p == "true") return true;
    if (p == "false") return false;
    throw RpcException(RPC_INVALID_PARAMETER, name + " must be true or false");
}

std::string ParamString(const json& params, size_t index, const std::string& name)
{
    const json& p = Require(params, index, name);
    if (!p.is_string()) throw RpcException(RPC_INVALID_PARAMETER, name + " must be a string");
    return p.get<std::string>();
}

Hash256 ParamHash(const json& params, size_t index, const std::string& name)
{
    const auto hash = HashFromHexRev(ParamString(params, index, name));
    if (!hash) throw RpcException(RPC_INVALID_PARAMETER, name + " must be 64 hex characters");
    return *hash;
}

Hash256 ParamHex32(const nlohmann::json& params, size_t index, const std::string& name)
{
    const std::string text = ParamString(params, index, name);
    const Bytes bytes = ParseHex(text);
    if (bytes.size() != 32 || ToHex(bytes) != text) throw RpcException(RPC_INVALID_PARAMETER, name + " must be 64 lowercase hex characters");
    Hash256 out{};
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return out;
}

PubKey ParamPubKey(const std::string& hex, const std::string& name)
{
    const auto bytes = TryParseHex(hex);
    if (!bytes || bytes->size() != PubKey::SIZE) throw RpcException(RPC_INVALID_PARAMETER, name + " must be 66 hex characters");
    auto key = PubKey::Parse(*bytes);
    if (!key) throw RpcException(RPC_INVALID_PARAMETER, name + " is not a valid public key");
    return *key;
}

ShortChannelId ParseShortChannelId(const std::string& text)
{
    unsigned long block = 0, tx = 0, out = 0;
    char x1 = 0, x2 = 0;
    int used = 0;
    if (std::sscanf(text.c_str(), "%lu%c%lu%c%lu%n", &block, &x1, &tx, &x2, &out, &used) != 5 || x1 != 'x' || x2 != 'x' ||
        static_cast<size_t>(used) != text.size() || block > 0xFFFFFF || tx > 0xFFFFFF || out > 0xFFFF) {
        throw RpcException(RPC_INVALID_PARAMETER, "channel must be a short channel id like 103x1x0, not '" + text + "'");
    }
    return ShortChannelId{static_cast<uint32_t>(block), static_cast<uint32_t>(tx), static_cast<uint16_t>(out)};
}

} // namespace sidebolt
