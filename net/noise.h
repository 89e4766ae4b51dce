#ifndef SIDEBOLT_NET_NOISE_H
#define SIDEBOLT_NET_NOISE_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "wire/expected.h"
#include "util/bytes.h"
#include "util/secure.h"

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

namespace sidebolt {

//! BOLT 8 HKDF: RFC 5869 over SHA256 with a zero-length info, 64 bytes split in two halves.
std::pair<Secret<32>, Secret<32>> NoiseHkdf(ByteSpan salt, ByteSpan ikm);

//! ChaCha20-Poly1305 (RFC 7539) with BOLT 8's nonce: 32 zero bits then a little-endian u64.
//! Holds one reusable OpenSSL context so the per-message path does not allocate, and sets the
//! key up only when it changes (every 1000 messages in a transport), not for every message.
class ChaChaPoly
{
public:
    static constexpr size_t kTagSize = 16;

    explicit ChaChaPoly(const Secret<32>& key);
    void SetKey(const Secret<32>& key);
    //! Writes plaintext.size() + 16 bytes to `out`.
    void Encrypt(uint64_t nonce, ByteSpan ad, ByteSpan plaintext, uint8_t* out);
    //! Writes ciphertext.size() - 16 bytes to `out`; false when the tag does not verify.
    [[nodiscard]] bool Decrypt(uint64_t nonce, ByteSpan ad, ByteSpan ciphertext, uint8_t* out);

private:
    struct CtxDeleter { void operator()(EVP_CIPHER_CTX* ctx) const; };
    std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> m_ctx;
};

//! One direction of an established transport: key, chaining key and nonce, rotated every
//! 1000 uses as BOLT 8 "Lightning Message Key Rotation" requires.
class CipherState
{
public:
    CipherState(const Secret<32>& key, const Secret<32>& chaining_key) : m_key(key), m_ck(chaining_key), m_aead(key) {}
    void Encrypt(ByteSpan plaintext, uint8_t* out);
    [[nodiscard]] bool Decrypt(ByteSpan ciphertext, uint8_t* out);

private:
    void Advance();

    Secret<32> m_key;
    Secret<32> m_ck;
    uint64_t m_nonce{0};
    ChaChaPoly m_aead;
};

//! The encrypted message framing of BOLT 8: 18-byte encrypted length, then the encrypted body.
//! Reading is two steps: DecryptLength on exactly 18 bytes tells how many more bytes the body
//! has, then DecryptBody (TransportReader does both over a received stream). After any failure
//! the peer is lying or the stream is corrupt; the object refuses further use and the
//! connection must be closed.
class TransportCipher
{
public:
    static constexpr size_t kLengthHeaderSize = 2 + ChaChaPoly::kTagSize;
    static constexpr size_t kMacSize = ChaChaPoly::kTagSize;
    static constexpr size_t kMaxMessageSize = 65535;

    TransportCipher(const Secret<32>& send_key, const Secret<32>& receive_key, const Secret<32>& chaining_key);

    //! Appends lc || c for `message`. Throws std::length_error above 65535 bytes (a local bug).
    void Encrypt(ByteSpan message, Bytes& out);
    Bytes Encrypt(ByteSpan message);
    static constexpr size_t EncryptedSize(size_t message_size) { return kLengthHeaderSize + message_size + kMacSize; }

    //! The message length l from an 18-byte header; the body to read next is l + 16 bytes.
    std::optional<uint16_t> DecryptLength(ByteSpan header);
    //! Decrypts a body of l + 16 bytes into `message` (resized to l); false on failure.
    [[nodiscard]] bool DecryptBody(ByteSpan body, Bytes& message);

private:
    CipherState m_send;
    CipherState m_receive;
    bool m_failed{false};
};

//! Cuts a received byte stream into BOLT 8 frames and decrypts them, however the stream was
//! split into reads: one large read may hold many frames, and a frame may span several reads.
//! Reading into FreeSpace() instead of exactly a header, then exactly a body, saves a read per
//! message. Besides the frames not yet taken out it holds at most one partial frame, in a fixed
//! buffer of kBufferSize bytes.
class TransportReader
{
public:
    //! A maximal frame (65569 bytes) and most of the next one.
    static constexpr size_t kBufferSize = size_t{128} << 10;
    static_assert(kBufferSize > TransportCipher::EncryptedSize(TransportCipher::kMaxMessageSize));

    //! kMessage: the next message was decrypted; kNeedMore: its frame has not fully arrived.
    //! The others mean a lying peer or a corrupt stream: close the connection.
    enum class Status { kMessage, kNeedMore, kBadLengthMac, kTooLarge, kBadMessageMac };

    //! Frames announcing more than `max_message_size` bytes are refused before their body arrives.
    explicit TransportReader(size_t max_message_size = TransportCipher::kMaxMessageSize);

    //! Where the next read goes; never empty once Next() returned kNeedMore. Valid until the
    //! next call on this object.
    MutableByteSpan FreeSpace();
    //! Records that the first `size` bytes of FreeSpace() were filled.
    void Commit(size_t size);
    //! Decrypts the next complete frame into `message`.
    Status Next(TransportCipher& cipher, Bytes& message);

private:
    ByteSpan Buffered() const;

    size_t m_max_message_size;
    //! Received bytes not yet taken out are [m_begin, m_end); allocated by the first read.
    Bytes m_buffer;
    size_t m_begin{0};
    size_t m_end{0};
    //! Set once the next frame's length is decrypted: the size of its body.
    std::optional<size_t> m_body_size;
};

//! Our static (node) key with its public key, derived once: every handshake needs the public
//! key too, and deriving it is an elliptic curve multiplication. Converts implicitly from a
//! PrivKey for one-off handshakes (tests, tools); a node keeps one for all its connections.
class StaticKeyPair
{
public:
    StaticKeyPair(const PrivKey& key) : m_priv(key), m_pub(key.GetPubKey()) {}

    const PrivKey& Priv() const { return m_priv; }
    const PubKey& Pub() const { return m_pub; }

private:
    PrivKey m_priv;
    PubKey m_pub;
};

//! Why a handshake act was rejected (the names of BOLT 8 Appendix A's failure vectors).
enum class HandshakeError : uint8_t {
    kShortRead,     //!< the act does not have its exact size
    kBadVersion,    //!< "If v is an unrecognized handshake version ... MUST abort"
    kBadPubkey,     //!< a key in the act is not a valid compressed point
    kBadCiphertext, //!< act three's encrypted static key fails its MAC
    kBadTag,        //!< the act's final MAC fails
};
std::string_view ToString(HandshakeError error);

struct HandshakeResult {
    //! The peer's node id: ours to check for an initiator, learnt for a responder.
    PubKey remote_static;
    TransportCipher cipher;
};

//! Noise_XK_secp256k1_ChaChaPoly_SHA256 as BOLT 8 specifies it, as a pure state machine: the
//! caller moves the 50/50/66-byte acts over the network. The ephemeral key is a parameter so
//! the spec's vectors can be replayed; production code uses the overloads that generate it.
//! Calling an act out of order, or after a failure, throws std::logic_error (a local bug).
class Handshake
{
public:
    static constexpr size_t kActOneSize = 50;
    static constexpr size_t kActTwoSize = 50;
    static constexpr size_t kActThreeSize = 66;

    static Handshake Initiator(const StaticKeyPair& local_static, const PubKey& remote_static, const PrivKey& ephemeral);
    static Handshake Initiator(const StaticKeyPair& local_static, const PubKey& remote_static);
    static Handshake Responder(const StaticKeyPair& local_static, const PrivKey& ephemeral);
    static Handshake Responder(const StaticKeyPair& local_static);

    //! Initiator, step one.
    ByteArray<kActOneSize> WriteActOne();
    //! Initiator, step two: checks act two and returns act three; the handshake is then done.
    Expected<ByteArray<kActThreeSize>, HandshakeError> ReadActTwo(ByteSpan act_two);
    //! Responder, step one: checks act one and returns act two.
    Expected<ByteArray<kActTwoSize>, HandshakeError> ReadActOne(ByteSpan act_one);
    //! Responder, step two: checks act three; the handshake is then done.
    std::optional<HandshakeError> ReadActThree(ByteSpan act_three);

    bool IsInitiator() const { return m_initiator; }
    bool IsComplete() const { return m_step == Step::kDone; }
    //! How many bytes the next act to receive has (0 when none is expected).
    size_t NextReadSize() const;
    //! The established session; only once IsComplete().
    HandshakeResult Finish() &&;

private:
    enum class Step { kActOne, kActTwo, kActThree, kDone, kFailed };

    Handshake(bool initiator, const StaticKeyPair& local_static, const PrivKey& ephemeral, const PubKey& responder_static);
    void MixHash(ByteSpan data);
    void MixKey(const Secret<32>& input_key_material);
    void Expect(bool initiator, Step step) const;
    //! Checks length and version, the steps common to every received act.
    std::optional<HandshakeError> CheckAct(ByteSpan act, size_t size);
    HandshakeError Fail(HandshakeError error);
    void Complete(bool initiator);

    bool m_initiator;
    Step m_step;
    StaticKeyPair m_local_static;
    PrivKey m_ephemeral;
    std::optional<PubKey> m_remote_static;
    std::optional<PubKey> m_remote_ephemeral;
    Hash256 m_h{};
    Secret<32> m_ck;
    Secret<32> m_temp_k;
    std::optional<TransportCipher> m_cipher;
    //! Keyed with temp_k by every MixKey, before any use.
    ChaChaPoly m_aead{m_temp_k};
};

} // namespace sidebolt

#endif
