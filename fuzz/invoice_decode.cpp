// Decodes arbitrary text as a BOLT 11 invoice, as a payer does with strings pasted by users or
// fetched from payees. It must never crash. An accepted invoice must hold what DecodeInvoice
// promises (mandatory fields, a signature by its payee), decode the same in upper case, and,
// re-signed by another key in the same field order, encode to a string that decodes back to it.
#include "pay/invoice.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace sidebolt;

namespace {
void Require(bool condition)
{
    if (!condition) std::abort();
}

const PrivKey& ResigningKey()
{
    static const PrivKey key = [] {
        Hash256 secret;
        secret.fill(0x42);
        return *PrivKey::FromBytes(secret);
    }();
    return key;
}

void CheckInvariants(const DecodedInvoice& decoded)
{
    const Invoice& inv = decoded.invoice;
    Require(inv.payment_secret.has_value());
    Require(inv.description.has_value() != inv.description_hash.has_value());
    Require(inv.timestamp < (uint64_t{1} << 35));
    Require(!inv.amount_msat || inv.amount_msat->value() > 0);
    Require(inv.features.empty() || inv.features.front() != 0);
    if (inv.payee) {
        Require(decoded.payee == *inv.payee);
        const auto sig = EcdsaSignature::FromCompact(decoded.signature.compact);
        Require(sig && VerifyEcdsa(decoded.payee, decoded.signing_hash, *sig));
    } else {
        Require(RecoverPubKey(decoded.signing_hash, decoded.signature) == decoded.payee);
    }
}

void CheckReencode(const DecodedInvoice& decoded)
{
    Invoice resigned = decoded.invoice;
    resigned.payee.reset(); // n must name the signer, which is now another key
    const std::string text = EncodeInvoice(resigned, ResigningKey(), decoded.field_order);
    const auto again = DecodeInvoice(text);
    Require(again && again->invoice == resigned && again->payee == ResigningKey().GetPubKey());
    Require(EncodeInvoice(again->invoice, ResigningKey(), again->field_order) == text);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto decoded = DecodeInvoice(text);
    if (!decoded) {
        Require(!decoded.error().reason.empty());
        return 0;
    }
    CheckInvariants(*decoded);
    std::string upper(text);
    std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; });
    const auto upper_decoded = DecodeInvoice(upper);
    Require(upper_decoded && upper_decoded->invoice == decoded->invoice && upper_decoded->payee == decoded->payee);
    CheckReencode(*decoded);
    return 0;
}
