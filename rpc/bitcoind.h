#ifndef SIDEBOLT_RPC_BITCOIND_H
#define SIDEBOLT_RPC_BITCOIND_H

// Typed bitcoind RPCs. Only calls that both Bitcoin Core (>= 0.21) and the project's bcoin
// stand-in (CI regtest node) answer the same way are here; hashes are Hash256 in internal byte
// order (converted from Core's reversed display hex). Errors: RpcError / RpcTransportError
// from the JSON client, and RpcTransportError(BadResponse) when an answer lacks a field.

#include "primitives/hash.h"
#include "primitives/network.h"
#include "primitives/tx.h"
#include "rpc/json_rpc_client.h"
#include "util/amount.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sidebolt::rpc {

//! Oldest supported Bitcoin Core: 0.21 (getnetworkinfo "version" 210000).
constexpr int64_t MIN_BITCOIND_VERSION = 210000;
//! The CI stand-in node (bcoin under a launcher) reports bcoin's own version number, which
//! says nothing about Core compatibility; it is recognized by this tag in its subversion.
constexpr std::string_view STANDIN_SUBVERSION_TAG = "bcoin-standin";

struct BlockchainInfo {
    std::string chain; //!< "main", "test", "testnet4", "signet", "regtest"
    int64_t blocks{0};
    int64_t headers{0};
    Hash256 best_block_hash{};
    //! false when the node does not report it (the stand-in has no such field).
    bool initial_block_download{false};
    double verification_progress{0};
};

struct NetworkInfo {
    //! Core's numeric version (e.g. 270100); 0 when the node reports a non-numeric one.
    int64_t version{0};
    std::string subversion; //!< user agent, e.g. "/Satoshi:27.1.0/"
};

//! nullopt when sidebolt supports this node, otherwise a message for the operator.
std::optional<std::string> CheckNodeVersion(const NetworkInfo& info);

struct BlockHeaderInfo {
    Hash256 hash{};
    int64_t height{0};
    std::optional<Hash256> prev_hash; //!< nullopt for the genesis block
    //! Core reports -1 for a block that is known but not on the active chain.
    int64_t confirmations{0};
    bool OnActiveChain() const { return confirmations >= 0; }
};

struct SendResult {
    enum class Status {
        Accepted,       //!< in the mempool now (or already was)
        AlreadyInChain, //!< -27: already confirmed, which is success for a broadcaster
        Rejected,       //!< see code (e.g. -25 inputs missing/spent, -26 policy) and message
    };
    Status status{Status::Rejected};
    int code{0};
    std::string message;
    bool Ok() const { return status != Status::Rejected; }
};

struct MempoolAcceptResult {
    Hash256 txid{};
    bool allowed{false};
    std::string reject_reason; //!< empty when allowed
};

struct ZmqNotification {
    std::string type;    //!< "pubhashblock", "pubrawblock", "pubhashtx", "pubrawtx", ...
    std::string address; //!< e.g. "tcp://127.0.0.1:28332"
};

struct TxOutInfo {
    Hash256 best_block{};
    int64_t confirmations{0}; //!< 0 when only in the mempool
    int64_t value_sat{0};
    Bytes script_pubkey;
    bool coinbase{false};
};

//! bitcoind's wallet RPC error codes (src/rpc/protocol.h). They reach the user with bitcoind's
//! message; code decides, the message is only shown.
enum WalletRpcErrorCode : int {
    RPC_WALLET_ERROR = -4,              //!< also "Insufficient funds" from the funding RPCs
    RPC_WALLET_INSUFFICIENT_FUNDS = -6, //!< "Insufficient funds" from sendtoaddress and friends
    RPC_WALLET_UNLOCK_NEEDED = -13,     //!< the wallet is encrypted and locked
    RPC_WALLET_NOT_FOUND = -18,         //!< no wallet loaded, or the named one is not loaded
    RPC_WALLET_NOT_SPECIFIED = -19,     //!< several wallets loaded and none named
};

//! An output for the wallet to fund: any script with an address form, or OP_RETURN <data>.
struct WalletOutput {
    Bytes script_pubkey;
    Sat amount;
};

struct FundedPsbt {
    std::string psbt; //!< base64, passed back to bitcoind as is (Core may make version 0 or 2)
    Sat fee;
    std::optional<uint32_t> change_pos; //!< nullopt when bitcoind added no change output
};

struct ProcessedPsbt {
    std::string psbt;
    //! Every input is final (bitcoind finalizes by default).
    bool complete{false};
};

struct WalletBalances {
    Sat trusted;
    Sat untrusted_pending;
    Sat immature;
};

//! A wallet-funded transaction that is signed and final but not broadcast; its inputs stay
//! locked in the wallet until it is broadcast or the caller unlocks them (LockUnspent(true, ...)).
struct WalletFundedTx {
    Transaction tx;
    Sat fee;
    std::optional<uint32_t> change_pos;
};

//! Why a wallet funding was refused by us rather than by bitcoind (whose refusals are RpcError).
class WalletFundingError : public std::runtime_error
{
public:
    enum class Kind {
        NotFullySigned, //!< the wallet could not sign every input (e.g. watch-only coins)
        NonSegwitInput, //!< an input without a witness: its txid could be malleated
    };
    WalletFundingError(Kind kind, const std::string& message) : std::runtime_error{message}, m_kind{kind} {}
    Kind GetKind() const { return m_kind; }

private:
    Kind m_kind;
};

/**
 * Refuses a transaction with an input that carries no witness. A funding transaction's txid must
 * not change before it confirms, or the commitment transactions signed against it are void;
 * only segwit spends (native, or P2SH-wrapped whose scriptSig consensus fixes) guarantee that.
 */
void RequireSegwitInputs(const Transaction& tx);

//! Converts BTC amounts as bitcoind prints them (8 decimals) to satoshis, rounding to nearest.
int64_t BtcToSat(double btc);

class BitcoindClient
{
public:
    //! Does not own the client, which must outlive this object. With a wallet name, wallet calls
    //! go to /wallet/<name> (-bitcoin.wallet); without, bitcoind's single loaded wallet answers.
    explicit BitcoindClient(JsonRpcClient& client, std::optional<std::string> wallet = std::nullopt)
        : m_client{client}, m_wallet{std::move(wallet)}
    {
    }

    const std::optional<std::string>& Wallet() const { return m_wallet; }

    BlockchainInfo GetBlockchainInfo();
    NetworkInfo GetNetworkInfo();
    //! GetNetworkInfo + CheckNodeVersion; throws std::runtime_error for an unsupported node.
    NetworkInfo RequireSupportedNode();

    int64_t GetBlockCount();
    Hash256 GetBestBlockHash();
    //! nullopt when height is above the tip (-8).
    std::optional<Hash256> GetBlockHash(int64_t height);
    //! nullopt when the node does not know the block (-5).
    std::optional<BlockHeaderInfo> GetBlockHeader(const Hash256& hash);
    //! The serialized block (getblock verbosity 0).
    Bytes GetBlockRaw(const Hash256& hash);
    //! nullopt when not found (-5); confirmed transactions need -txindex on Core.
    std::optional<Bytes> GetRawTransaction(const Hash256& txid);

    //! RPC errors become SendResult::Rejected (or AlreadyInChain); transport errors throw.
    SendResult SendRawTransaction(ByteSpan tx);
    std::vector<MempoolAcceptResult> TestMempoolAccept(std::span<const Bytes> txs);
    /**
     * submitpackage: parents first, the child last. Accepted when every transaction is in the
     * mempool afterwards (each tx-result without an "error"); Rejected with bitcoind's code when
     * it refused the call, or RPC_VERIFY_REJECTED and its package_msg when a transaction was left out.
     */
    SendResult SubmitPackage(std::span<const Bytes> txs);
    //! The lowest feerate the mempool takes now (the larger of mempoolminfee and minrelaytxfee,
    //! in sat per 1000 vbytes); nullopt when the node does not say.
    std::optional<int64_t> MempoolMinFee();
    //! Fee rate in sat per 1000 vbytes; nullopt when the node has no estimate yet.
    std::optional<int64_t> EstimateSmartFee(int conf_target);

    std::vector<ZmqNotification> GetZmqNotifications();
    //! nullopt when the output is spent or unknown.
    std::optional<TxOutInfo> GetTxOut(const Hash256& txid, uint32_t n, bool include_mempool = true);
    std::vector<Hash256> GetRawMempool();

    // Wallet calls. bitcoind's refusals (RPC_WALLET_* codes, -8 bad parameters, -22 bad PSBT)
    // propagate as RpcError with its code and message.

    //! walletcreatefundedpsbt with no preset inputs, at `feerate_sat_per_kvb`; with `lock_unspents`
    //! the chosen coins stay locked. Throws std::invalid_argument for an output script with
    //! neither an address on `network` nor the OP_RETURN <data> form.
    FundedPsbt CreateFundedPsbt(std::span<const WalletOutput> outputs, Network network,
                                uint64_t feerate_sat_per_kvb, bool lock_unspents,
                                std::optional<uint32_t> minconf = std::nullopt);
    //! walletprocesspsbt: signs what the wallet can and finalizes.
    ProcessedPsbt ProcessPsbt(std::string_view psbt);
    /**
     * fundrawtransaction: adds wallet inputs (locked) and a change output at position
     * `change_position` to `tx`, whose inputs the wallet does not own; their signed weights are
     * `input_weights` (bitcoind finds their amounts in its UTXO set). Core only (the stand-in
     * refuses a transaction that has inputs).
     */
    Transaction FundWithExternalInputs(const Transaction& tx, std::span<const std::pair<OutPoint, uint32_t>> input_weights,
                                       uint64_t feerate_sat_per_kvb, uint32_t change_position);
    /**
     * fundrawtransaction of `tx`, which has outputs and no inputs: wallet inputs (locked) and a
     * change output at `change_position`. Unsigned.
     */
    Transaction FundOutputs(const Transaction& tx, uint64_t feerate_sat_per_kvb, uint32_t change_position);
    //! signrawtransactionwithwallet: the wallet's inputs signed, the others left as they are.
    //! `foreign_prevouts` are what the other inputs spend, for outputs bitcoind does not know
    //! (a taproot signature commits to every input's amount and script).
    Transaction SignWalletInputs(const Transaction& tx, std::span<const std::pair<OutPoint, TxOut>> foreign_prevouts = {});
    //! finalizepsbt: the network serialization, or nullopt while signatures are missing.
    std::optional<Bytes> FinalizePsbt(std::string_view psbt);
    //! The outpoints a PSBT spends (decodepsbt; version 0 and 2 layouts).
    std::vector<OutPoint> PsbtInputs(std::string_view psbt);
    //! Core refuses (-8) unknown or spent outputs, unlocking an unlocked one and locking a locked one.
    void LockUnspent(bool unlock, std::span<const OutPoint> outpoints);
    std::vector<OutPoint> ListLockUnspent();
    std::string GetNewAddress();
    WalletBalances GetWalletBalances();

    /**
     * Funds `outputs` from the wallet, leaving the chosen coins locked, then signs and finalizes
     * without broadcasting. Throws WalletFundingError for a result that is not fully signed or has
     * a non-segwit input; on any failure after coin selection the coins are unlocked again.
     */
    WalletFundedTx FundFromWallet(std::span<const WalletOutput> outputs, Network network,
                                  uint64_t feerate_sat_per_kvb, std::optional<uint32_t> minconf = std::nullopt);

private:
    nlohmann::json WalletCall(std::string_view method, const nlohmann::json& params = nlohmann::json::array());

    JsonRpcClient& m_client;
    std::optional<std::string> m_wallet;
};

} // namespace sidebolt::rpc

#endif
