#ifndef SIDEBOLT_NODE_INTERFACES_H
#define SIDEBOLT_NODE_INTERFACES_H

#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/tx.h"
#include "store/env.h"
#include "util/amount.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace sidebolt {

// What the channel manager needs from the rest of the daemon, as narrow interfaces so that
// node/ can be driven by fakes in unit tests and by the real peers, chain and wallet in sideboltd.

//! A refusal with a code an RPC caller sees: bitcoind's own code for wallet refusals, or one
//! of sidebolt's (plugin/ maps them), with an operator-facing message.
class NodeError : public std::runtime_error
{
public:
    NodeError(int code, const std::string& message) : std::runtime_error(message), m_code(code) {}
    int Code() const { return m_code; }

private:
    int m_code;
};

//! sidebolt's own RPC error codes for channel operations (bitcoind's wallet codes pass through).
enum NodeErrorCode : int {
    kErrInvalidParameter = -8,
    kErrPeerNotConnected = -101,
    //! The peer refused the open (its error message is in ours) or broke the protocol.
    kErrOpenRefused = -102,
    kErrUnknownChannel = -103,
    //! The channel is not in a state that allows the request (e.g. close while opening).
    kErrChannelState = -104,
    kErrTimeout = -105,
    kErrTooManyPendingOpens = -106,
    kErrShuttingDown = -107,
    // Payments.
    //! The payment hash was paid before (never pay twice), or a payment for it is in flight.
    kErrAlreadyPaid = -130,
    kErrPaymentPending = -131,
    //! No route over our channels and the invoice's hints fits the amount and the limits.
    kErrNoRoute = -132,
    //! Every attempt failed; the message names the failing hop and its BOLT 4 code.
    kErrPaymentFailed = -133,
};

class PeerLink
{
public:
    virtual ~PeerLink() = default;
    //! Queues an encoded message (type + payload) to the peer's connection numbered `connection`
    //! (the number its PeerConnected came with); dropped once that connection has ended, even
    //! if the peer is connected again: the new connection starts its protocol afresh.
    virtual void Send(const PubKey& peer, uint64_t connection, Bytes message) = 0;
    //! Queues several, which leave together: a peer reading them in one go acts on them at once
    //! (a revoke_and_ack and the commitment_signed after it take one write of its store).
    virtual void SendAll(const PubKey& peer, uint64_t connection, std::vector<Bytes> messages)
    {
        for (Bytes& message : messages) Send(peer, connection, std::move(message));
    }
    //! Closes the connection numbered `connection`, or, without one, whichever is up (from the
    //! peer thread, about the connection whose message it is delivering).
    virtual void Disconnect(const PubKey& peer, std::optional<uint64_t> connection) = 0;
    //! Starts an outgoing connection; the result arrives as a PeerConnected input (or nothing).
    virtual void Connect(const PubKey& peer, const std::string& host, uint16_t port) = 0;
    //! Flow control: stop reading the peer's messages (the connection stays up) until
    //! ResumeReading; a few already read may still come. Applied in the order called; called
    //! with the manager's queue locked, so they must not call back into the manager.
    virtual void PauseReading(const PubKey& peer) = 0;
    virtual void ResumeReading(const PubKey& peer) = 0;
};

struct WalletFunding {
    Transaction tx;
    uint32_t output_index{0};
    //! The wallet outputs the transaction spends, locked until it is broadcast or abandoned.
    std::vector<OutPoint> locked_inputs;
};

class ChannelWallet
{
public:
    virtual ~ChannelWallet() = default;
    //! A signed, unbroadcast transaction paying `amount` to `script_pubkey`, its inputs locked,
    //! spending only coins at least `minconf` deep when given (bitcoind's default otherwise).
    //! Throws NodeError (with bitcoind's code for its refusals).
    virtual WalletFunding Fund(const Script& script_pubkey, Sat amount, uint32_t feerate_per_kw,
                               std::optional<uint32_t> minconf) = 0;
    virtual void Unlock(std::span<const OutPoint> outpoints) = 0;
    //! A fresh scriptpubkey of the wallet, where closes pay us.
    virtual Bytes NewPayoutScript() = 0;
    /**
     * Pays the fee of `tx` (a zero-fee HTLC transaction of ours) from the wallet: its inputs and
     * outputs stay first, wallet inputs and a change output are added after them and signed.
     * `input0_weight` is the weight of tx's one input once signed. Throws NodeError.
     */
    virtual Transaction AddFeeInputs(const Transaction& tx, uint32_t input0_weight, uint32_t feerate_per_kw) = 0;
    /**
     * Pays the fee of `tx`, a CPFP child whose input 0 spends `spent` of a parent bitcoind may not
     * know yet (below its mempool's floor, it goes in with the child as a package): `feerate_per_kw`
     * over the child's final weight (`input0_weight` for input 0 once signed), plus `extra_fee`
     * for its parent. bitcoind funds the outputs alone, and input 0 joins first afterwards.
     * Output 0 may grow, never shrink; the wallet's inputs are signed, input 0 is left for the
     * caller. Throws NodeError.
     */
    virtual Transaction FundChild(const Transaction& tx, uint32_t input0_weight, const TxOut& spent, uint32_t feerate_per_kw,
                                  Sat extra_fee) = 0;
};

class ChannelChain
{
public:
    virtual ~ChannelChain() = default;
    //! Persists tx in txn for (re)broadcast until it confirms; it is sent after txn commits
    //! and SendQueued is called.
    virtual void Broadcast(store::WriteTxn& txn, const Transaction& tx, const std::string& label) = 0;
    virtual void SendQueued() = 0;
    //! Stops rebroadcasting tx (it conflicts with a confirmed transaction).
    virtual void CancelBroadcast(const Hash256& txid) = 0;
    //! bitcoind's best height, asked now (the follower's last view when bitcoind cannot be
    //! asked): ahead of the blocks delivered so far while the follower catches up.
    virtual std::optional<uint32_t> NodeHeight() = 0;
    //! The feerate for commitment transactions now, in sat per 1000 weight units.
    virtual uint32_t CommitmentFeerate() = 0;
    //! The feerate a mutual close should pay.
    virtual uint32_t ClosingFeerate() = 0;
    //! The lowest feerate bitcoind's mempool takes now (sat/kw): a presigned commitment below it
    //! gets in only with a child paying for both (package relay).
    virtual uint32_t MempoolFloorFeerate() = 0;
    //! Reports every transaction spending the outpoint, in the mempool and in blocks, to the
    //! channel manager's watch listener (OnWatchEvent). Idempotent; not from inside a listener.
    virtual void WatchSpends(const OutPoint& outpoint, const std::string& tag) = 0;
    //! The same from a chain listener, inside the follower's transaction: the watch then sees
    //! the next block even when the follower is catching up faster than the worker.
    virtual void WatchSpends(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag) = 0;
    virtual void UnwatchSpends(const OutPoint& outpoint, const std::string& tag) = 0;
};

//! What a short_channel_id names on chain, for checking a channel_announcement (BOLT 7).
struct FundingLookup {
    enum class Status {
        FOUND,       //!< The output exists and is unspent: `outpoint` and `output` are set.
        NOT_FOUND,   //!< No such block, transaction or output in the active chain.
        SPENT,       //!< It existed and is spent.
        UNAVAILABLE, //!< bitcoind could not be asked now: try again later.
    };
    Status status{Status::UNAVAILABLE};
    OutPoint outpoint;
    TxOut output;
};

class GossipChain
{
public:
    virtual ~GossipChain() = default;
    //! The output a short_channel_id (block height, transaction index, output index) points to.
    virtual FundingLookup LookupFunding(uint32_t block_height, uint32_t tx_index, uint32_t output_index) = 0;
};

} // namespace sidebolt

#endif
