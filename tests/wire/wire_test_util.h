#ifndef SIDEBOLT_TESTS_WIRE_WIRE_TEST_UTIL_H
#define SIDEBOLT_TESTS_WIRE_WIRE_TEST_UTIL_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/bytes.h"
#include "util/hex.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace sidebolt::test {

//! Hex as the BOLTs print it: optional "0x" prefix, spaces between fields.
inline Bytes SpacedHex(std::string text)
{
    if (text.rfind("0x", 0) == 0) text.erase(0, 2);
    text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
    return ParseHex(text);
}

//! k*G for k = 1..6.
inline PubKey Point(int k)
{
    static const char* const kPointHex[] = {
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5",
        "02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
        "02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13",
        "022f8bde4d1a07209355b4a7250a5c5128e88b84bddc619ab7cba8d569b240efe4",
        "03fff97bd5755eeea420453a14355235d382f6472f8568a18b2f057a1460297556",
    };
    return *PubKey::Parse(ParseHex(kPointHex[k - 1]));
}

//! A compact signature r || s with every byte of r `r_byte` and of s `s_byte` (both below n).
inline EcdsaSignature Signature(uint8_t r_byte, uint8_t s_byte)
{
    Bytes compact(32, r_byte);
    compact.resize(64, s_byte);
    return *EcdsaSignature::FromCompact(compact);
}

inline Hash256 Filled(uint8_t byte)
{
    Hash256 hash;
    hash.fill(byte);
    return hash;
}

} // namespace sidebolt::test

#endif
