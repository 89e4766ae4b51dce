#include "net/noise.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <stdexcept>

namespace sidebolt {
namespace {
constexpr std::string_view kProtocolName = "Noise_XK_secp256k1_ChaChaPoly_SHA256";
constexpr std::string_view kPrologue = "lightning";
constexpr uint8_t kHandshakeVersion = 0;
//! BOLT 8: "A key is to be rotated after a party sends or decrypts 1000 messages with it."
constexpr uint64_t kRotationInterval = 1000;

ByteSpan AsBytes(std::string_view text) { return {reinterpret_cast<const uint8_t*>(text.data()), text.size()}; }

void Check(int ok, const char* what)
{
    if (ok != 1) throw std::runtime_error(what);
}

// Fetched once: an implicit fetch per operation costs a provider lookup (OpenSSL 3).
const EVP_CIPHER* FetchedChaChaPoly()
{
    static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    if (!cipher) throw std::runtime_error("OpenSSL has no ChaCha20-Poly1305");
    return cipher;
}

EVP_KDF* FetchedHkdf()
{
    static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (!kdf) throw std::runtime_error("OpenSSL has no HKDF");
    return kdf;
}

//! The 96-bit nonce: "32 zero bits, followed by a little-endian 64-bit value".
ByteArray<12> NoiseNonce(uint64_t counter)
{
    ByteArray<12> nonce{};
    for (size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
    return nonce;
}

int IntSize(size_t size) { return static_cast<int>(size); }
} // namespace

std::pair<Secret<32>, Secret<32>> NoiseHkdf(ByteSpan salt, ByteSpan ikm)
{
    const std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(FetchedHkdf()), EVP_KDF_CTX_free);
    if (!ctx) throw std::bad_alloc();
    // OSSL_PARAM wants non-const pointers; OpenSSL only reads these buffers.
    uint8_t empty = 0;
    const auto param_data = [&](ByteSpan bytes) { return bytes.empty() ? &empty : const_cast<uint8_t*>(bytes.data()); };
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, param_data(salt), salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, param_data(ikm), ikm.size()),
        OSSL_PARAM_construct_end(),
    };
    Secret<64> okm;
    Check(EVP_KDF_derive(ctx.get(), okm.data(), okm.size(), params), "HKDF failed");
    return {Secret<32>(okm.span().first(32)), Secret<32>(okm.span().subspan(32))};
}

void ChaChaPoly::CtxDeleter::operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }

ChaChaPoly::ChaChaPoly(const Secret<32>& key) : m_ctx(EVP_CIPHER_CTX_new())
{
    if (!m_ctx) throw std::bad_alloc();
    Check(EVP_CipherInit_ex(m_ctx.get(), FetchedChaChaPoly(), nullptr, key.data(), nullptr, 1), "cipher init failed");
}

void ChaChaPoly::SetKey(const Secret<32>& key)
{
    // -1 keeps the direction; each operation sets it with its nonce.
    Check(EVP_CipherInit_ex(m_ctx.get(), nullptr, nullptr, key.data(), nullptr, -1), "cipher key setup failed");
}

void ChaChaPoly::Encrypt(uint64_t nonce, ByteSpan ad, ByteSpan plaintext, uint8_t* out)
{
    const auto iv = NoiseNonce(nonce);
    EVP_CIPHER_CTX* ctx = m_ctx.get();
    int len = 0;
    // A null key keeps the one set up before; the nonce alone restarts the cipher and the MAC.
    Check(EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv.data(), 1), "encrypt init failed");
    if (!ad.empty()) Check(EVP_CipherUpdate(ctx, nullptr, &len, ad.data(), IntSize(ad.size())), "AD failed");
    if (!plaintext.empty()) {
        Check(EVP_CipherUpdate(ctx, out, &len, plaintext.data(), IntSize(plaintext.size())), "encrypt failed");
    }
    uint8_t* const tag = out + plaintext.size();
    Check(EVP_CipherFinal_ex(ctx, tag, &len), "encrypt final failed");
    Check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, tag), "get tag failed");
}

bool ChaChaPoly::Decrypt(uint64_t nonce, ByteSpan ad, ByteSpan ciphertext, uint8_t* out)
{
    if (ciphertext.size() < kTagSize) return false;
    const size_t plain_size = ciphertext.size() - kTagSize;
    const auto iv = NoiseNonce(nonce);
    EVP_CIPHER_CTX* ctx = m_ctx.get();
    int len = 0;
    uint8_t sink[kTagSize];
    Check(EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv.data(), 0), "decrypt init failed");
    if (!ad.empty()) Check(EVP_CipherUpdate(ctx, nullptr, &len, ad.data(), IntSize(ad.size())), "AD failed");
    if (plain_size > 0) Check(EVP_CipherUpdate(ctx, out, &len, ciphertext.data(), IntSize(plain_size)), "decrypt failed");
    Check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, const_cast<uint8_t*>(ciphertext.data() + plain_size)),
          "set tag failed");
    if (EVP_CipherFinal_ex(ctx, sink, &len) == 1) return true;
    // Unauthenticated plaintext must not survive a failed check.
    if (plain_size > 0) SecureWipe(out, plain_size);
    return false;
}

void CipherState::Encrypt(ByteSpan plaintext, uint8_t* out)
{
    m_aead.Encrypt(m_nonce, {}, plaintext, out);
    Advance();
}

bool CipherState::Decrypt(ByteSpan ciphertext, uint8_t* out)
{
    if (!m_aead.Decrypt(m_nonce, {}, ciphertext, out)) return false;
    Advance();
    return true;
}

void CipherState::Advance()
{
    if (++m_nonce < kRotationInterval) return;
    // "ck', k' = HKDF(ck, k)", then the nonce restarts at zero.
    auto [ck, key] = NoiseHkdf(m_ck.span(), m_key.span());
    m_ck = ck;
    m_key = key;
    m_aead.SetKey(m_key);
    m_nonce = 0;
}

TransportCipher::TransportCipher(const Secret<32>& send_key, const Secret<32>& receive_key, const Secret<32>& chaining_key)
    : m_send(send_key, chaining_key), m_receive(receive_key, chaining_key)
{
}

void TransportCipher::Encrypt(ByteSpan message, Bytes& out)
{
    if (message.size() > kMaxMessageSize) throw std::length_error("lightning message larger than 65535 bytes");
    const size_t start = out.size();
    out.resize(start + EncryptedSize(message.size()));
    const uint8_t length[2] = {static_cast<uint8_t>(message.size() >> 8), static_cast<uint8_t>(message.size())};
    m_send.Encrypt(length, out.data() + start);
    m_send.Encrypt(message, out.data() + start + kLengthHeaderSize);
}

Bytes TransportCipher::Encrypt(ByteSpan message)
{
    Bytes out;
    Encrypt(message, out);
    return out;
}

std::optional<uint16_t> TransportCipher::DecryptLength(ByteSpan header)
{
    if (header.size() != kLengthHeaderSize) throw std::logic_error("length header must be 18 bytes");
    uint8_t length[2];
    if (m_failed || !m_receive.Decrypt(header, length)) {
        m_failed = true;
        return std::nullopt;
    }
    return static_cast<uint16_t>(length[0] << 8 | length[1]);
}

bool TransportCipher::DecryptBody(ByteSpan body, Bytes& message)
{
    if (body.size() < kMacSize) throw std::logic_error("message body shorter than its MAC");
    message.resize(body.size() - kMacSize);
    if (m_failed || !m_receive.Decrypt(body, message.data())) {
        m_failed = true;
        message.clear();
        return false;
    }
    return true;
}

TransportReader::TransportReader(size_t max_message_size) : m_max_message_size(max_message_size) {}

ByteSpan TransportReader::Buffered() const { return ByteSpan(m_buffer).subspan(m_begin, m_end - m_begin); }

MutableByteSpan TransportReader::FreeSpace()
{
    if (m_buffer.empty()) m_buffer.resize(kBufferSize);
    // The partial frame moves to the front, so the read can fill the rest of the buffer.
    if (m_begin > 0) {
        const ByteSpan partial = Buffered();
        std::copy(partial.begin(), partial.end(), m_buffer.begin());
        m_end = partial.size();
        m_begin = 0;
    }
    if (m_end == m_buffer.size()) throw std::logic_error("frames must be taken out before reading more");
    return MutableByteSpan(m_buffer).subspan(m_end);
}

void TransportReader::Commit(size_t size)
{
    if (size > m_buffer.size() - m_end) throw std::logic_error("committed more than the free space");
    m_end += size;
}

TransportReader::Status TransportReader::Next(TransportCipher& cipher, Bytes& message)
{
    if (!m_body_size) {
        if (Buffered().size() < TransportCipher::kLengthHeaderSize) return Status::kNeedMore;
        const auto length = cipher.DecryptLength(Buffered().first(TransportCipher::kLengthHeaderSize));
        if (!length) return Status::kBadLengthMac;
        if (*length > m_max_message_size) return Status::kTooLarge;
        m_begin += TransportCipher::kLengthHeaderSize;
        m_body_size = size_t{*length} + TransportCipher::kMacSize;
    }
    if (Buffered().size() < *m_body_size) return Status::kNeedMore;
    if (!cipher.DecryptBody(Buffered().first(*m_body_size), message)) return Status::kBadMessageMac;
    m_begin += *m_body_size;
    m_body_size.reset();
    return Status::kMessage;
}

std::string_view ToString(HandshakeError error)
{
    switch (error) {
    case HandshakeError::kShortRead: return "short_read";
    case HandshakeError::kBadVersion: return "bad_version";
    case HandshakeError::kBadPubkey: return "bad_pubkey";
    case HandshakeError::kBadCiphertext: return "bad_ciphertext";
    case HandshakeError::kBadTag: return "bad_tag";
    }
    return "unknown";
}

Handshake::Handshake(bool initiator, const StaticKeyPair& local_static, const PrivKey& ephemeral, const PubKey& responder_static)
    : m_initiator(initiator), m_step(Step::kActOne), m_local_static(local_static), m_ephemeral(ephemeral)
{
    // h = SHA-256(protocolName); ck = h; h = SHA-256(h || prologue); h = SHA-256(h || rs).
    m_h = Sha256(AsBytes(kProtocolName));
    m_ck = Secret<32>(m_h);
    MixHash(AsBytes(kPrologue));
    MixHash(responder_static.span());
}

Handshake Handshake::Initiator(const StaticKeyPair& local_static, const PubKey& remote_static, const PrivKey& ephemeral)
{
    Handshake handshake(true, local_static, ephemeral, remote_static);
    handshake.m_remote_static = remote_static;
    return handshake;
}

Handshake Handshake::Initiator(const StaticKeyPair& local_static, const PubKey& remote_static)
{
    return Initiator(local_static, remote_static, PrivKey::Generate());
}

Handshake Handshake::Responder(const StaticKeyPair& local_static, const PrivKey& ephemeral)
{
    return Handshake(false, local_static, ephemeral, local_static.Pub());
}

Handshake Handshake::Responder(const StaticKeyPair& local_static) { return Responder(local_static, PrivKey::Generate()); }

void Handshake::MixHash(ByteSpan data) { m_h = Sha256Writer().Write(m_h).Write(data).Finalize(); }

void Handshake::MixKey(const Secret<32>& input_key_material)
{
    auto [ck, temp_k] = NoiseHkdf(m_ck.span(), input_key_material.span());
    m_ck = ck;
    m_temp_k = temp_k;
    m_aead.SetKey(m_temp_k);
}

void Handshake::Expect(bool initiator, Step step) const
{
    if (m_initiator != initiator || m_step != step) throw std::logic_error("handshake act called out of order");
}

std::optional<HandshakeError> Handshake::CheckAct(ByteSpan act, size_t size)
{
    if (act.size() != size) return Fail(HandshakeError::kShortRead);
    if (act[0] != kHandshakeVersion) return Fail(HandshakeError::kBadVersion);
    return std::nullopt;
}

HandshakeError Handshake::Fail(HandshakeError error)
{
    m_step = Step::kFailed;
    return error;
}

ByteArray<Handshake::kActOneSize> Handshake::WriteActOne()
{
    Expect(true, Step::kActOne);
    ByteArray<kActOneSize> act{};
    act[0] = kHandshakeVersion;
    const PubKey ephemeral = m_ephemeral.GetPubKey();
    std::copy(ephemeral.span().begin(), ephemeral.span().end(), act.begin() + 1);
    // -> e, es
    MixHash(ephemeral.span());
    MixKey(Ecdh(m_ephemeral, *m_remote_static));
    m_aead.Encrypt(0, m_h, {}, act.data() + 34);
    MixHash(ByteSpan(act).subspan(34));
    m_step = Step::kActTwo;
    return act;
}

Expected<ByteArray<Handshake::kActThreeSize>, HandshakeError> Handshake::ReadActTwo(ByteSpan act_two)
{
    Expect(true, Step::kActTwo);
    if (const auto error = CheckAct(act_two, kActTwoSize)) return *error;
    const auto remote_ephemeral = PubKey::Parse(act_two.subspan(1, PubKey::SIZE));
    if (!remote_ephemeral) return Fail(HandshakeError::kBadPubkey);
    // <- e, ee
    MixHash(remote_ephemeral->span());
    MixKey(Ecdh(m_ephemeral, *remote_ephemeral));
    uint8_t none[1];
    if (!m_aead.Decrypt(0, m_h, act_two.subspan(34), none)) return Fail(HandshakeError::kBadTag);
    MixHash(act_two.subspan(34));

    // -> s, se: our static key travels encrypted under temp_k2 with nonce 1.
    ByteArray<kActThreeSize> act_three{};
    act_three[0] = kHandshakeVersion;
    m_aead.Encrypt(1, m_h, m_local_static.Pub().span(), act_three.data() + 1);
    MixHash(ByteSpan(act_three).subspan(1, 49));
    MixKey(Ecdh(m_local_static.Priv(), *remote_ephemeral));
    m_aead.Encrypt(0, m_h, {}, act_three.data() + 50);
    Complete(true);
    return act_three;
}

Expected<ByteArray<Handshake::kActTwoSize>, HandshakeError> Handshake::ReadActOne(ByteSpan act_one)
{
    Expect(false, Step::kActOne);
    if (const auto error = CheckAct(act_one, kActOneSize)) return *error;
    const auto remote_ephemeral = PubKey::Parse(act_one.subspan(1, PubKey::SIZE));
    if (!remote_ephemeral) return Fail(HandshakeError::kBadPubkey);
    // -> e, es
    MixHash(remote_ephemeral->span());
    MixKey(Ecdh(m_local_static.Priv(), *remote_ephemeral));
    uint8_t none[1];
    // A bad MAC means the initiator does not know our static key.
    if (!m_aead.Decrypt(0, m_h, act_one.subspan(34), none)) return Fail(HandshakeError::kBadTag);
    MixHash(act_one.subspan(34));
    m_remote_ephemeral = remote_ephemeral;

    // <- e, ee
    ByteArray<kActTwoSize> act_two{};
    act_two[0] = kHandshakeVersion;
    const PubKey ephemeral = m_ephemeral.GetPubKey();
    std::copy(ephemeral.span().begin(), ephemeral.span().end(), act_two.begin() + 1);
    MixHash(ephemeral.span());
    MixKey(Ecdh(m_ephemeral, *remote_ephemeral));
    m_aead.Encrypt(0, m_h, {}, act_two.data() + 34);
    MixHash(ByteSpan(act_two).subspan(34));
    m_step = Step::kActThree;
    return act_two;
}

std::optional<HandshakeError> Handshake::ReadActThree(ByteSpan act_three)
{
    Expect(false, Step::kActThree);
    if (const auto error = CheckAct(act_three, kActThreeSize)) return error;
    const ByteSpan encrypted_static = act_three.subspan(1, 49);
    ByteArray<PubKey::SIZE> static_bytes{};
    if (!m_aead.Decrypt(1, m_h, encrypted_static, static_bytes.data())) {
        return Fail(HandshakeError::kBadCiphertext);
    }
    const auto remote_static = PubKey::Parse(static_bytes);
    if (!remote_static) return Fail(HandshakeError::kBadPubkey);
    MixHash(encrypted_static);
    MixKey(Ecdh(m_ephemeral, *remote_static));
    uint8_t none[1];
    if (!m_aead.Decrypt(0, m_h, act_three.subspan(50), none)) return Fail(HandshakeError::kBadTag);
    m_remote_static = remote_static;
    Complete(false);
    return std::nullopt;
}

void Handshake::Complete(bool initiator)
{
    // The initiator's (sk, rk) is the responder's (rk, sk).
    auto [first, second] = NoiseHkdf(m_ck.span(), {});
    m_cipher.emplace(initiator ? first : second, initiator ? second : first, m_ck);
    m_temp_k = Secret<32>();
    m_step = Step::kDone;
}

size_t Handshake::NextReadSize() const
{
    if (m_initiator) return m_step == Step::kActTwo ? kActTwoSize : 0;
    if (m_step == Step::kActOne) return kActOneSize;
    return m_step == Step::kActThree ? kActThreeSize : 0;
}

HandshakeResult Handshake::Finish() &&
{
    if (!IsComplete()) throw std::logic_error("handshake not complete");
    return HandshakeResult{*m_remote_static, std::move(*m_cipher)};
}

} // namespace sidebolt
