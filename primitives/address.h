#ifndef SIDEBOLT_PRIMITIVES_ADDRESS_H
#define SIDEBOLT_PRIMITIVES_ADDRESS_H

#include "primitives/network.h"
#include "util/bytes.h"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace sidebolt {

enum class AddressError {
    UnknownFormat,          //!< neither base58check nor bech32(m)
    Base58Checksum,
    InvalidBase58Payload,   //!< checksum fine but not 1 version byte + 20-byte hash
    WrongVersionByte,       //!< base58 version of another network or an unknown type
    InvalidBech32,          //!< has this network's HRP but fails bech32 decoding (see bech32::Decode)
    WrongHrp,               //!< a valid bech32(m) string for another HRP
    EmptyWitnessData,
    InvalidWitnessVersion,  //!< above 16
    InvalidPadding,         //!< 5-to-8 bit conversion left more than 4 bits or non-zero bits
    InvalidProgramLength,   //!< outside 2..40 bytes
    InvalidV0ProgramLength, //!< BIP141: v0 programs are 20 (P2WPKH) or 32 (P2WSH) bytes
    WrongChecksumVariant,   //!< BIP350: v0 must use bech32, v1+ bech32m
};

//! The scriptPubKey an address pays to on `network`, or why the address is refused.
//! Handles P2PKH, P2SH and segwit v0..v16 (BIP173/BIP350).
std::variant<Bytes, AddressError> ParseAddress(std::string_view address, Network network);
std::optional<Bytes> DecodeAddress(std::string_view address, Network network);

//! Nullopt when the script has no address form (bare multisig, OP_RETURN, malformed programs).
//! Segwit addresses come out in lower case.
std::optional<std::string> EncodeAddress(ByteSpan script_pubkey, Network network);

} // namespace sidebolt

#endif
