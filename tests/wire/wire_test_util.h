#ifndef SIDEBOLT_TESTS_WIRE_WIRE_TEST_UTIL_H
#define SIDEBOLT_TESTS_WIRE_WIRE_TEST_UTIL_H

#include "util/bytes.h"
#include "util/hex.h"

#include <algorithm>
#include <string>

namespace sidebolt::test {

//! Hex as the BOLTs print it: optional "0x" prefix, spaces between fields.
inline Bytes SpacedHex(std::string text)
{
    if (text.rfind("0x", 0) == 0) text.erase(0, 2);
    text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
    return ParseHex(text);
}

} // namespace sidebolt::test

#endif
