'use strict';

// Transactions, the mempool and fee estimation.

const MTX = require('bcoin/lib/primitives/mtx');
const Outpoint = require('bcoin/lib/primitives/outpoint');
const Script = require('bcoin/lib/script/script');
const { codes, RpcError } = require('../errors');
const { amount, feeRatePerKvB, parseAmount } = require('../json');
const { reverseHex } = require('../consensus');
const { decodeTx, parseHex } = require('../txcodec');
const { txJson, scriptPubKeyJson } = require('../describe');
const { RBF_SEQUENCE } = require('../wallets');
const {
  isMissing, typeError, int, bool, str, hash256, verbosity, feeRateSatPerKvB, scriptFromAddress, entryByHash
} = require('./params');

const DEFAULT_MAX_RAW_TX_FEE_RATE = 10000000; // 0.10 BTC/kvB in sat/kvB
const MAX_CONF_TARGET = 1008;

function mempoolEntryJson(node, entry) {
  const { mempool } = node;
  const tx = entry.tx;
  const hash = tx.hash('hex');
  const ancestors = mempool.getAncestors(entry);
  const descendants = mempool.getDescendants(entry);
  const sumSize = list => list.reduce((n, e) => n + e.size, 0);
  const sumFee = list => list.reduce((n, e) => n + e.fee, 0);
  const depends = [];
  for (const input of tx.inputs) {
    if (mempool.hasEntry(input.prevout.hash) && !depends.includes(reverseHex(input.prevout.hash)))
      depends.push(reverseHex(input.prevout.hash));
  }
  const spentby = [];
  for (let i = 0; i < tx.outputs.length; i++) {
    const spender = mempool.getSpent(hash, i);
    if (spender && !spentby.includes(spender.tx.txid()))
      spentby.push(spender.tx.txid());
  }
  return {
    vsize: entry.size,
    weight: tx.getWeight(),
    time: entry.time,
    height: entry.height,
    descendantcount: descendants.length + 1,
    descendantsize: sumSize(descendants) + entry.size,
    ancestorcount: ancestors.length + 1,
    ancestorsize: sumSize(ancestors) + entry.size,
    wtxid: tx.wtxid(),
    fees: {
      base: amount(entry.fee),
      modified: amount(entry.deltaFee),
      ancestor: amount(sumFee(ancestors) + entry.fee),
      descendant: amount(sumFee(descendants) + entry.fee)
    },
    depends,
    spentby,
    'bip125-replaceable': tx.isRBF() || ancestors.some(a => a.tx.isRBF()),
    unbroadcast: false
  };
}

function rejectToRpc(reject) {
  switch (reject.kind) {
    case 'missing-inputs':
      return new RpcError(codes.VERIFY_ERROR, 'bad-txns-inputs-missingorspent');
    case 'already-in-chain':
      return new RpcError(codes.VERIFY_ALREADY_IN_CHAIN, 'Transaction outputs already in utxo set');
    case 'max-fee':
      return new RpcError(codes.VERIFY_ERROR, 'Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)');
    default:
      return new RpcError(codes.VERIFY_REJECTED, reject.reason);
  }
}

const TESTACCEPT_REASONS = {
  'missing-inputs': () => 'missing-inputs',
  'already-in-mempool': () => 'txn-already-in-mempool',
  'already-in-chain': () => 'txn-already-known',
  'max-fee': () => 'max-fee-exceeded',
  rejected: r => r.reason
};

module.exports = function register(def) {
  def('getrawtransaction', ['txid', 'verbose', 'blockhash'], async ({ node }, [txid, verb, blockhash]) => {
    const hash = hash256(txid, 'parameter 1');
    const level = verbosity(verb, 0);
    let tx = null;
    let entry = null;
    if (!isMissing(blockhash)) {
      entry = await entryByHash(node, blockhash);
      const block = await node.chain.getBlock(entry.hash);
      tx = block ? block.txs.find(t => t.hash('hex') === hash) : null;
      if (!tx)
        throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'No such transaction found in the provided block. Use gettransaction for wallet transactions.');
    } else {
      tx = node.mempool.getTX(hash);
      if (!tx) {
        const meta = await node.chain.getMeta(hash);
        if (meta) {
          tx = meta.tx;
          entry = await node.chain.getEntry(meta.block);
        }
      }
    }
    if (!tx) {
      if (hash === node.network.genesis.merkleRoot)
        throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved');
      throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.');
    }
    const hex = tx.toRaw().toString('hex');
    if (level <= 0)
      return hex;
    const json = txJson(tx);
    json.hex = hex;
    if (entry) {
      const confirmations = await node.confirmations(entry);
      if (!isMissing(blockhash))
        json.in_active_chain = confirmations > 0;
      json.blockhash = entry.rhash();
      if (confirmations > 0) {
        json.confirmations = confirmations;
        json.time = entry.time;
        json.blocktime = entry.time;
      } else {
        json.confirmations = 0;
      }
    }
    return json;
  });

  def('decoderawtransaction', ['hexstring', 'iswitness'], async (ctx, [hex]) => txJson(decodeTx(hex)));

  def('decodescript', ['hexstring'], async (ctx, [hex]) => {
    const raw = parseHex(str(hex));
    if (!raw) throw new RpcError(codes.DESERIALIZATION_ERROR, 'argument must be hexadecimal string');
    const json = scriptPubKeyJson(raw);
    delete json.hex;
    return json;
  });

  def('createrawtransaction', ['inputs', 'outputs', 'locktime', 'replaceable'], async (ctx, [inputs, outputs, locktime, replaceable]) => {
    if (!Array.isArray(inputs)) throw typeError(inputs, 'array');
    const mtx = new MTX();
    mtx.version = 2;
    mtx.locktime = int(locktime, 0);
    const rbf = bool(replaceable, false);
    for (const input of inputs) {
      const hash = hash256(input.txid, 'txid');
      const vout = int(input.vout);
      if (vout < 0) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, vout cannot be negative');
      let sequence = rbf ? RBF_SEQUENCE : (mtx.locktime ? 0xfffffffe : 0xffffffff);
      if (!isMissing(input.sequence)) sequence = int(input.sequence);
      mtx.addInput({ prevout: new Outpoint(hash, vout), sequence });
    }
    const outList = Array.isArray(outputs) ? outputs : [outputs];
    for (const obj of outList) {
      for (const [key, value] of Object.entries(obj)) {
        if (key === 'data')
          mtx.addOutput(Script.fromNulldata(Buffer.from(str(value), 'hex')), 0);
        else
          mtx.addOutput(Script.fromRaw(scriptFromAddress(key)), parseAmount(value));
      }
    }
    return mtx.toTX().toRaw().toString('hex');
  });

  def('gettxout', ['txid', 'n', 'include_mempool'], async ({ node }, [txid, n, includeMempool]) => {
    const hash = hash256(txid, 'txid');
    const index = int(n);
    let coin = null;
    if (bool(includeMempool, true)) {
      if (node.mempool.isSpent(hash, index))
        return null;
      coin = node.mempool.getCoin(hash, index);
    }
    if (!coin)
      coin = await node.chain.getCoin(hash, index);
    if (!coin)
      return null;
    return {
      bestblock: node.tip.rhash(),
      confirmations: coin.height === -1 ? 0 : node.chain.height - coin.height + 1,
      value: amount(coin.value),
      scriptPubKey: scriptPubKeyJson(coin.script.toRaw()),
      coinbase: coin.coinbase
    };
  });

  def('getrawmempool', ['verbose', 'mempool_sequence'], async ({ node }, [verbose, withSequence]) => {
    const entries = Array.from(node.mempool.map.values());
    if (bool(verbose, false)) {
      if (bool(withSequence, false))
        throw new RpcError(codes.INVALID_PARAMETER, 'Verbose results cannot contain mempool sequence values.');
      const out = {};
      for (const e of entries) out[e.tx.txid()] = mempoolEntryJson(node, e);
      return out;
    }
    const txids = entries.map(e => e.tx.txid());
    if (bool(withSequence, false))
      return { txids, mempool_sequence: node.mempoolSequence };
    return txids;
  });

  def('getmempoolentry', ['txid'], async ({ node }, [txid]) => {
    const entry = node.mempool.getEntry(hash256(txid, 'parameter 1'));
    if (!entry)
      throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'Transaction not in mempool');
    return mempoolEntryJson(node, entry);
  });

  def('getmempoolinfo', [], async ({ node }) => {
    const entries = Array.from(node.mempool.map.values());
    return {
      loaded: true,
      size: entries.length,
      bytes: entries.reduce((n, e) => n + e.size, 0),
      usage: node.mempool.getSize(),
      total_fee: amount(entries.reduce((n, e) => n + e.fee, 0)),
      maxmempool: 300000000,
      mempoolminfee: amount(1000),
      minrelaytxfee: amount(1000),
      incrementalrelayfee: amount(1000),
      unbroadcastcount: 0,
      fullrbf: false
    };
  });

  def('sendrawtransaction', ['hexstring', 'maxfeerate', 'maxburnamount'], async ({ node }, [hex, maxfeerate]) => {
    const tx = decodeTx(hex);
    const maxFeeRate = feeRateSatPerKvB(maxfeerate, DEFAULT_MAX_RAW_TX_FEE_RATE);
    try {
      await node.acceptTx(tx, { maxFeeRate });
    } catch (err) {
      if (!err.kind) throw err;
      // Core treats a transaction already in its mempool as success.
      if (err.kind !== 'already-in-mempool')
        throw rejectToRpc(err);
    }
    return tx.txid();
  });

  def('testmempoolaccept', ['rawtxs', 'maxfeerate'], async ({ node }, [rawtxs, maxfeerate]) => {
    if (!Array.isArray(rawtxs)) throw typeError(rawtxs, 'array');
    if (rawtxs.length < 1 || rawtxs.length > 25)
      throw new RpcError(codes.INVALID_PARAMETER, 'Array must contain between 1 and 25 transactions.');
    const maxFeeRate = feeRateSatPerKvB(maxfeerate, DEFAULT_MAX_RAW_TX_FEE_RATE);
    const txs = rawtxs.map(decodeTx);
    const results = [];
    for (const tx of txs) {
      const result = { txid: tx.txid(), wtxid: tx.wtxid() };
      try {
        const entry = await node.acceptTx(tx, { testOnly: true, maxFeeRate });
        result.allowed = true;
        result.vsize = entry.size;
        result.fees = {
          base: amount(entry.fee),
          'effective-feerate': feeRatePerKvB(entry.fee, entry.size),
          'effective-includes': [tx.wtxid()]
        };
      } catch (err) {
        if (!err.kind) throw err;
        result.allowed = false;
        result['reject-reason'] = TESTACCEPT_REASONS[err.kind](err);
      }
      results.push(result);
    }
    return results;
  });

  def('estimatesmartfee', ['conf_target', 'estimate_mode'], async ({ node }, [target, mode]) => {
    const t = int(target);
    if (t < 1 || t > MAX_CONF_TARGET)
      throw new RpcError(codes.INVALID_PARAMETER, `Invalid conf_target, must be between 1 and ${MAX_CONF_TARGET}`);
    const m = str(mode, 'conservative').toLowerCase();
    if (!['unset', 'economical', 'conservative'].includes(m))
      throw new RpcError(codes.INVALID_PARAMETER, 'Invalid estimate_mode parameter, must be one of: "unset", "economical", "conservative"');
    if (node.feeEstimate === null)
      return { errors: ['Insufficient data or no feerate found'], blocks: 0 };
    return { feerate: amount(node.feeEstimate), blocks: Math.max(t, 2) };
  });

  // Stand-in only: make estimatesmartfee answer (BTC/kvB), or null to clear.
  def('standin_setfeeestimate', ['feerate'], async ({ node }, [feerate]) => {
    node.feeEstimate = isMissing(feerate) ? null : parseAmount(feerate);
    return null;
  });
};
