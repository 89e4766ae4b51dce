'use strict';

// Chain queries, mining and invalidate/reconsider.

const { codes, RpcError } = require('../errors');
const { toScript } = require('../address');
const { reverseHex } = require('../consensus');
const { decodeTx, decodeBlock } = require('../txcodec');
const { txJson, headerJson, difficulty } = require('../describe');
const { typeError, int, bool, str, verbosity, entryByHash } = require('./params');

async function headerContext(node, entry, nTx) {
  const confirmations = await node.confirmations(entry);
  let next = null;
  if (confirmations > 0 && entry.height < node.chain.height)
    next = reverseHex(await node.chain.getHash(entry.height + 1));
  return {
    confirmations,
    mediantime: await node.chain.getMedianTime(entry),
    nTx,
    next
  };
}

async function blockFees(node, block, isMain) {
  if (!isMain)
    return null;
  try {
    const view = await node.chain.getBlockView(block);
    return block.txs.map((tx) => {
      if (tx.isCoinbase()) return undefined;
      let input = 0;
      for (const i of tx.inputs) {
        const coin = view.getOutputFor(i);
        if (!coin) return undefined;
        input += coin.value;
      }
      return input - tx.getOutputValue();
    });
  } catch (e) {
    return null;
  }
}

module.exports = function register(def) {
  def('getblockchaininfo', [], async ({ node }) => {
    const tip = node.tip;
    return {
      chain: 'regtest',
      blocks: tip.height,
      headers: tip.height,
      bestblockhash: tip.rhash(),
      difficulty: difficulty(tip.bits),
      time: tip.time,
      mediantime: await node.chain.getMedianTime(tip),
      verificationprogress: 1,
      initialblockdownload: node.isInitialBlockDownload(),
      chainwork: tip.chainwork.toString('hex', 64),
      size_on_disk: 0,
      pruned: false,
      warnings: ''
    };
  });

  def('getblockcount', [], async ({ node }) => node.chain.height);
  def('getbestblockhash', [], async ({ node }) => node.tip.rhash());
  def('getdifficulty', [], async ({ node }) => difficulty(node.tip.bits));

  def('getblockhash', ['height'], async ({ node }, [height]) => {
    const h = int(height);
    if (h < 0 || h > node.chain.height)
      throw new RpcError(codes.INVALID_PARAMETER, 'Block height out of range');
    return reverseHex(await node.chain.getHash(h));
  });

  def('getblockheader', ['blockhash', 'verbose'], async ({ node }, [hash, verbose]) => {
    const entry = await entryByHash(node, hash);
    if (!bool(verbose, true))
      return entry.toHeaders().toHead().toString('hex');
    const block = await node.chain.getBlock(entry.hash);
    return headerJson(entry, await headerContext(node, entry, block ? block.txs.length : 0));
  });

  def('getblock', ['blockhash', 'verbosity'], async ({ node }, [hash, verb]) => {
    const entry = await entryByHash(node, hash);
    const level = verbosity(verb, 1);
    const block = await node.chain.getBlock(entry.hash);
    if (!block)
      throw new RpcError(codes.MISC_ERROR, 'Block not available (pruned data)');
    if (level <= 0)
      return block.toRaw().toString('hex');
    const json = headerJson(entry, await headerContext(node, entry, block.txs.length));
    json.strippedsize = block.getBaseSize();
    json.size = block.getSize();
    json.weight = block.getWeight();
    if (level === 1) {
      json.tx = block.txs.map(tx => tx.txid());
    } else {
      const fees = await blockFees(node, block, json.confirmations > 0);
      json.tx = block.txs.map((tx, i) => {
        const t = txJson(tx, { fee: fees ? fees[i] : undefined });
        t.hex = tx.toRaw().toString('hex');
        return t;
      });
    }
    return json;
  });

  def('getchaintips', [], async ({ node }) => {
    const tips = await node.chain.getTips();
    const result = [];
    for (const hash of tips) {
      const entry = await node.chain.getEntry(hash);
      if (!entry) continue;
      const isMain = await node.chain.isMainChain(entry);
      let fork = entry;
      while (!await node.chain.isMainChain(fork))
        fork = await node.chain.getPrevious(fork);
      let status = isMain ? 'active' : 'valid-fork';
      if (!isMain && node.chain.invalid.has(entry.hash)) status = 'invalid';
      result.push({ height: entry.height, hash: entry.rhash(), branchlen: entry.height - fork.height, status });
    }
    if (!result.some(t => t.status === 'active'))
      result.push({ height: node.tip.height, hash: node.tip.rhash(), branchlen: 0, status: 'active' });
    return result;
  });

  def('generatetoaddress', ['nblocks', 'address', 'maxtries'], async ({ node }, [nblocks, address]) => {
    const n = int(nblocks);
    const script = toScript(str(address));
    if (!script)
      throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'Error: Invalid address');
    return node.generate(n, script);
  });

  def('generateblock', ['output', 'transactions', 'submit'], async ({ node }, [output, transactions, submit]) => {
    const script = toScript(str(output));
    if (!script)
      throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'Error: Invalid address or descriptor');
    if (!Array.isArray(transactions)) throw typeError(transactions, 'array');
    const txs = transactions.map((item) => {
      const s = str(item);
      if (/^[0-9a-fA-F]{64}$/.test(s)) {
        const tx = node.mempool.getTX(reverseHex(s.toLowerCase()));
        if (!tx) throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, `Transaction ${s} not in mempool.`);
        return tx;
      }
      return decodeTx(s);
    });
    const doSubmit = bool(submit, true);
    const block = await node.generateBlock(script, txs, doSubmit);
    const result = { hash: block.rhash() };
    if (!doSubmit) result.hex = block.toRaw().toString('hex');
    return result;
  });

  def('submitblock', ['hexdata', 'dummy'], async ({ node }, [hex]) => node.submitBlock(decodeBlock(str(hex))));

  def('getmininginfo', [], async ({ node }) => ({
    blocks: node.chain.height,
    difficulty: difficulty(node.tip.bits),
    networkhashps: 0,
    pooledtx: node.mempool.map.size,
    chain: 'regtest',
    warnings: ''
  }));

  def('invalidateblock', ['blockhash'], async ({ node }, [hash]) => {
    const entry = await entryByHash(node, hash);
    if (entry.height === 0)
      throw new RpcError(codes.MISC_ERROR, 'Cannot invalidate the genesis block');
    await node.invalidateBlock(entry);
    return null;
  });

  def('reconsiderblock', ['blockhash'], async ({ node }, [hash]) => {
    const entry = await entryByHash(node, hash);
    await node.reconsiderBlock(entry);
    return null;
  });
};
