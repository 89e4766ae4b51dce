#include "primitives/address.h"

#include "primitives/base58.h"
#include "primitives/bech32.h"

#include <algorithm>

namespace sidebolt {
namespace {
// Only the opcodes an address can stand for.
constexpr uint8_t OP_0 = 0x00;
constexpr uint8_t OP_1 = 0x51;
constexpr uint8_t OP_16 = 0x60;
constexpr uint8_t OP_DUP = 0x76;
constexpr uint8_t OP_HASH160 = 0xa9;
constexpr uint8_t OP_EQUAL = 0x87;
constexpr uint8_t OP_EQUALVERIFY = 0x88;
constexpr uint8_t OP_CHECKSIG = 0xac;

constexpr size_t HASH160_SIZE = 20;
constexpr unsigned MAX_WITNESS_VERSION = 16;
constexpr size_t MIN_PROGRAM_SIZE = 2;
constexpr size_t MAX_PROGRAM_SIZE = 40;

struct WitnessProgram {
    unsigned version;
    ByteSpan program;
};

std::optional<AddressError> CheckWitnessProgram(unsigned version, size_t program_size)
{
    if (version > MAX_WITNESS_VERSION) return AddressError::InvalidWitnessVersion;
    if (program_size < MIN_PROGRAM_SIZE || program_size > MAX_PROGRAM_SIZE) return AddressError::InvalidProgramLength;
    if (version == 0 && program_size != 20 && program_size != 32) return AddressError::InvalidV0ProgramLength;
    return std::nullopt;
}

Bytes WitnessScript(unsigned version, ByteSpan program)
{
    Bytes script{version == 0 ? OP_0 : static_cast<uint8_t>(OP_1 + version - 1), static_cast<uint8_t>(program.size())};
    Append(script, program);
    return script;
}

std::optional<WitnessProgram> MatchWitnessScript(ByteSpan script)
{
    if (script.size() < 2 + MIN_PROGRAM_SIZE || script.size() > 2 + MAX_PROGRAM_SIZE) return std::nullopt;
    const uint8_t op = script[0];
    if (op != OP_0 && (op < OP_1 || op > OP_16)) return std::nullopt;
    if (script[1] != script.size() - 2) return std::nullopt;
    const unsigned version = op == OP_0 ? 0 : op - OP_1 + 1;
    const ByteSpan program = script.subspan(2);
    if (CheckWitnessProgram(version, program.size())) return std::nullopt;
    return WitnessProgram{version, program};
}

bool StartsWithIgnoringCase(std::string_view str, std::string_view lower_prefix)
{
    return str.size() >= lower_prefix.size() &&
           std::equal(lower_prefix.begin(), lower_prefix.end(), str.begin(), [](char want, char got) {
               return want == (got >= 'A' && got <= 'Z' ? static_cast<char>(got - 'A' + 'a') : got);
           });
}

std::variant<Bytes, AddressError> ParseSegwit(std::string_view address, std::string_view hrp)
{
    auto result = bech32::Decode(address);
    auto* decoded = std::get_if<bech32::Decoded>(&result);
    if (!decoded) return AddressError::InvalidBech32;
    if (decoded->hrp != hrp) return AddressError::WrongHrp;
    if (decoded->values.empty()) return AddressError::EmptyWitnessData;
    const unsigned version = decoded->values[0];
    if (version > MAX_WITNESS_VERSION) return AddressError::InvalidWitnessVersion;
    const auto program = bech32::ConvertBits(ByteSpan{decoded->values}.subspan(1), 5, 8, false);
    if (!program) return AddressError::InvalidPadding;
    if (const auto error = CheckWitnessProgram(version, program->size())) return *error;
    const auto expected = version == 0 ? bech32::Encoding::Bech32 : bech32::Encoding::Bech32m;
    if (decoded->encoding != expected) return AddressError::WrongChecksumVariant;
    return WitnessScript(version, *program);
}

std::variant<Bytes, AddressError> ParseBase58(std::string_view address, const NetworkParams& params)
{
    auto result = DecodeBase58Check(address, 1 + HASH160_SIZE);
    if (const auto* error = std::get_if<Base58CheckError>(&result)) {
        if (*error == Base58CheckError::BadChecksum) return AddressError::Base58Checksum;
        // A bech32 string for a different HRP is the likelier mistake than a garbled base58 one.
        if (std::holds_alternative<bech32::Decoded>(bech32::Decode(address))) return AddressError::WrongHrp;
        return AddressError::UnknownFormat;
    }
    const Bytes& payload = std::get<Bytes>(result);
    if (payload.size() != 1 + HASH160_SIZE) return AddressError::InvalidBase58Payload;
    const ByteSpan hash = ByteSpan{payload}.subspan(1);
    if (payload[0] == params.p2pkh_prefix) {
        Bytes script{OP_DUP, OP_HASH160, HASH160_SIZE};
        Append(script, hash);
        script.push_back(OP_EQUALVERIFY);
        script.push_back(OP_CHECKSIG);
        return script;
    }
    if (payload[0] == params.p2sh_prefix) {
        Bytes script{OP_HASH160, HASH160_SIZE};
        Append(script, hash);
        script.push_back(OP_EQUAL);
        return script;
    }
    return AddressError::WrongVersionByte;
}

std::string Base58Address(uint8_t prefix, ByteSpan hash)
{
    Bytes payload{prefix};
    Append(payload, hash);
    return EncodeBase58Check(payload);
}
} // namespace

std::variant<Bytes, AddressError> ParseAddress(std::string_view address, Network network)
{
    const NetworkParams& params = Params(network);
    const std::string segwit_prefix = std::string{params.bech32_hrp} + '1';
    if (StartsWithIgnoringCase(address, segwit_prefix)) return ParseSegwit(address, params.bech32_hrp);
    return ParseBase58(address, params);
}

std::optional<Bytes> DecodeAddress(std::string_view address, Network network)
{
    auto result = ParseAddress(address, network);
    if (auto* script = std::get_if<Bytes>(&result)) return std::move(*script);
    return std::nullopt;
}

std::optional<std::string> EncodeAddress(ByteSpan script, Network network)
{
    const NetworkParams& params = Params(network);
    if (script.size() == 25 && script[0] == OP_DUP && script[1] == OP_HASH160 && script[2] == HASH160_SIZE &&
        script[23] == OP_EQUALVERIFY && script[24] == OP_CHECKSIG) {
        return Base58Address(params.p2pkh_prefix, script.subspan(3, HASH160_SIZE));
    }
    if (script.size() == 23 && script[0] == OP_HASH160 && script[1] == HASH160_SIZE && script[22] == OP_EQUAL) {
        return Base58Address(params.p2sh_prefix, script.subspan(2, HASH160_SIZE));
    }
    const auto witness = MatchWitnessScript(script);
    if (!witness) return std::nullopt;
    Bytes values{static_cast<uint8_t>(witness->version)};
    Append(values, *bech32::ConvertBits(witness->program, 8, 5, true));
    const auto encoding = witness->version == 0 ? bech32::Encoding::Bech32 : bech32::Encoding::Bech32m;
    return bech32::Encode(encoding, params.bech32_hrp, values);
}

} // namespace sidebolt
