#ifndef SIDEBOLT_TESTS_CHANNEL_CHANNEL_TEST_UTIL_H
#define SIDEBOLT_TESTS_CHANNEL_CHANNEL_TEST_UTIL_H

#include "primitives/hash.h"
#include "tests/support/interpreter.h"
#include "primitives/key.h"
#include "primitives/tx.h"
#include "util/amount.h"
#include "util/hex.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace sidebolt::test {

inline std::string Str(const nlohmann::json& j) { return j.get<std::string>(); }

inline PrivKey PrivFromHex(std::string_view hex)
{
    const auto key = PrivKey::FromBytes(ParseHex(hex));
    REQUIRE(key);
    return *key;
}

inline PubKey PubFromHex(std::string_view hex)
{
    const auto key = PubKey::Parse(ParseHex(hex));
    REQUIRE(key);
    return *key;
}

inline Hash256 Hash256FromHex(std::string_view hex)
{
    const auto hash = TryParseHexArray<32>(hex);
    REQUIRE(hash);
    return *hash;
}

//! A deterministic private key named after a label.
inline PrivKey NamedKey(std::string_view name)
{
    const auto key = PrivKey::FromBytes(Sha256({reinterpret_cast<const uint8_t*>(name.data()), name.size()}));
    REQUIRE(key);
    return *key;
}

inline std::string TxHex(const Transaction& tx) { return ToHex(SerializeTransaction(tx)); }

//! Checks every input of `tx` against the outputs it spends with the standard script flags.
inline ScriptError VerifyInput(const Transaction& tx, size_t input, const TxOut& spent)
{
    return VerifyWitnessInput(tx, input, spent, SigHashCache(tx));
}

} // namespace sidebolt::test

template <typename Tag>
struct doctest::StringMaker<sidebolt::Amount<Tag>> {
    static doctest::String convert(sidebolt::Amount<Tag> amount) { return amount.ToString().c_str(); }
};

template <>
struct doctest::StringMaker<sidebolt::ScriptError> {
    static doctest::String convert(sidebolt::ScriptError e) { return std::string(sidebolt::ScriptErrorName(e)).c_str(); }
};

#endif
