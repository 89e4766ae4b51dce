#include "chain/chain_store.h"

#include "store/codec.h"

#include <algorithm>
#include <cstring>

namespace sidebolt {

namespace {

constexpr std::string_view KEY_TIP{"tip"};
constexpr std::string_view KEY_BIRTH{"birth"};

// Heights are stored shifted by one so that -1 ("nothing processed") encodes as zero.
Bytes EncodeHeight(int height) { return store::EncodeU32(static_cast<uint32_t>(height + 1)); }

std::optional<int> DecodeHeight(ByteSpan bytes)
{
    const auto value = store::DecodeU32(bytes);
    if (!value) return std::nullopt;
    return static_cast<int>(*value) - 1;
}

Hash256 ToHash(ByteSpan bytes)
{
    if (bytes.size() != 32) throw store::StoreError("chain store", "malformed block hash");
    Hash256 hash;
    std::copy(bytes.begin(), bytes.end(), hash.begin());
    return hash;
}

} // namespace

ChainStore::ChainStore(store::Env& env, int history_depth)
    : m_meta{env.OpenDb("chain_meta")}, m_hashes{env.OpenDb("chain_hashes")},
      m_history_depth{std::max(history_depth, 1)}
{
}

std::optional<ChainState> ChainStore::Load(const store::Txn& txn) const
{
    const auto tip = txn.GetView(m_meta, store::AsBytes(KEY_TIP));
    const auto birth = txn.GetView(m_meta, store::AsBytes(KEY_BIRTH));
    if (!tip || !birth) return std::nullopt;
    const auto tip_height = tip->size() == 36 ? DecodeHeight(tip->first(4)) : std::nullopt;
    const auto birth_height = DecodeHeight(*birth);
    if (!tip_height || !birth_height) throw store::StoreError("chain store", "malformed chain state");
    return ChainState{*birth_height, BlockRef{*tip_height, ToHash(tip->subspan(4))}};
}

void ChainStore::Initialize(store::WriteTxn& txn, const ChainState& state)
{
    txn.Put(m_meta, store::AsBytes(KEY_BIRTH), EncodeHeight(state.birth_height));
    WriteTip(txn, state.tip);
}

std::optional<Hash256> ChainStore::HashAt(const store::Txn& txn, int height) const
{
    if (height < 0) return std::nullopt;
    const auto value = txn.GetView(m_hashes, EncodeHeight(height));
    if (!value) return std::nullopt;
    return ToHash(*value);
}

void ChainStore::Connect(store::WriteTxn& txn, const BlockRef& block)
{
    WriteTip(txn, block);
    // A reorg of depth d forks at tip - d, which must still be kept for d == history_depth.
    const int forget = block.height - m_history_depth - 1;
    if (forget >= 0) txn.Delete(m_hashes, EncodeHeight(forget));
}

void ChainStore::Disconnect(store::WriteTxn& txn, int old_height, const BlockRef& new_tip)
{
    txn.Delete(m_hashes, EncodeHeight(old_height));
    WriteTip(txn, new_tip);
}

void ChainStore::WriteTip(store::WriteTxn& txn, const BlockRef& tip)
{
    Bytes value = EncodeHeight(tip.height);
    Append(value, tip.hash);
    txn.Put(m_meta, store::AsBytes(KEY_TIP), value);
    if (tip.height >= 0) txn.Put(m_hashes, EncodeHeight(tip.height), tip.hash);
}

} // namespace sidebolt
