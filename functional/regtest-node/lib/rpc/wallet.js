'use strict';

// Wallet management and wallet methods (`{ wallet: true }`: ctx.wallet is the
// CoreWallet selected by the request URI, already synced with the chain).

const MTX = require('bcoin/lib/primitives/mtx');
const Outpoint = require('bcoin/lib/primitives/outpoint');
const Script = require('bcoin/lib/script/script');
const { codes, RpcError } = require('../errors');
const { amount, parseAmount } = require('../json');
const { classify, toScript } = require('../address');
const { reverseHex } = require('../consensus');
const { decodeTx, parseHex } = require('../txcodec');
const { Psbt } = require('../psbt');
const { coinFromPrevTx, moveOutput, randomInt, RBF_SEQUENCE } = require('../wallets');
const {
  isMissing, typeError, int, bool, str, hash256, scriptFromAddress, SIGHASH_TYPES, coinForInput
} = require('./params');

function walletFeeRate(node, feeRateSatPerVb, feeRateBtcPerKvB) {
  if (!isMissing(feeRateSatPerVb) && !isMissing(feeRateBtcPerKvB))
    throw new RpcError(codes.INVALID_PARAMETER, 'Cannot specify both fee_rate (sat/vB) and feeRate (BTC/kvB)');
  if (!isMissing(feeRateSatPerVb)) {
    const satPerVb = typeof feeRateSatPerVb === 'string' ? Number(feeRateSatPerVb) : feeRateSatPerVb;
    if (typeof satPerVb !== 'number' || !Number.isFinite(satPerVb) || satPerVb < 0)
      throw new RpcError(codes.TYPE_ERROR, 'Invalid fee_rate');
    return Math.round(satPerVb * 1000);
  }
  if (!isMissing(feeRateBtcPerKvB))
    return parseAmount(feeRateBtcPerKvB);
  return node.fallbackFeeRate;
}

// Core's fundrawtransaction/walletcreatefundedpsbt option keys; others are -3.
const FUND_OPTIONS = new Set([
  'add_inputs', 'include_unsafe', 'changeAddress', 'change_address', 'changePosition', 'change_position',
  'change_type', 'includeWatching', 'include_watching', 'lockUnspents', 'lock_unspents', 'fee_rate', 'feeRate',
  'subtractFeeFromOutputs', 'subtract_fee_from_outputs', 'replaceable', 'conf_target', 'estimate_mode',
  'minconf', 'maxconf', 'input_weights', 'max_tx_weight', 'solving_data'
]);
const MIN_RELAY_FEE_RATE = 1000; // sat/kvB, the stand-in mempool's minimum

function option(opts, camel, snake) {
  return isMissing(opts[camel]) ? opts[snake] : opts[camel];
}

// Core's outputs argument: [{address: amount}, {"data": hex}] or one such object.
function addOutputs(mtx, outputs) {
  if (isMissing(outputs) || typeof outputs !== 'object')
    throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, output argument must be non-null');
  const seen = new Set();
  for (const obj of Array.isArray(outputs) ? outputs : [outputs]) {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw typeError(obj, 'object');
    for (const [key, value] of Object.entries(obj)) {
      if (seen.has(key))
        throw new RpcError(codes.INVALID_PARAMETER, `Invalid parameter, duplicated ${key === 'data' ? 'key: data' : 'address: ' + key}`);
      seen.add(key);
      if (key === 'data') {
        const data = parseHex(str(value));
        if (!data) throw new RpcError(codes.INVALID_PARAMETER, 'Data must be hexadecimal string');
        mtx.addOutput(Script.fromNulldata(data), 0);
        continue;
      }
      const script = toScript(key);
      if (!script) throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, `Invalid Bitcoin address: ${key}`);
      mtx.addOutput(Script.fromRaw(script), parseAmount(value));
    }
  }
  if (mtx.outputs.length === 0)
    throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, outputs are missing');
}

// Selects coins for `mtx` (outputs set) the way fundrawtransaction does;
// presets are wallet outpoints {hash, index, sequence} to spend. Returns changepos.
async function fundWithOptions(node, wallet, mtx, presets, options) {
  if (!isMissing(options) && (typeof options !== 'object' || Array.isArray(options)))
    throw typeError(options, 'object');
  const opts = options || {};
  for (const key of Object.keys(opts)) {
    if (!FUND_OPTIONS.has(key)) throw new RpcError(codes.TYPE_ERROR, `Unexpected key ${key}`);
  }
  const rate = walletFeeRate(node, opts.fee_rate, opts.feeRate);
  if (rate < MIN_RELAY_FEE_RATE)
    throw new RpcError(codes.WALLET_ERROR, `Fee rate (${(rate / 1000).toFixed(3)} sat/vB) is lower than the minimum fee rate setting (${(MIN_RELAY_FEE_RATE / 1000).toFixed(3)} sat/vB)`);
  const subtract = option(opts, 'subtractFeeFromOutputs', 'subtract_fee_from_outputs') || [];
  if (subtract.length > 1)
    throw new RpcError(codes.INVALID_PARAMETER, 'The stand-in supports at most one subtractFeeFromOutputs index');
  const changeAddress = option(opts, 'changeAddress', 'change_address');
  const changeScript = isMissing(changeAddress) ? null : scriptFromAddress(changeAddress);
  if (mtx.outputs.some(o => !o.script.isNulldata() && o.isDust()))
    throw new RpcError(codes.WALLET_ERROR, 'Transaction amount too small');
  for (const p of presets) {
    if (!await wallet.coinFor(p))
      throw new RpcError(codes.WALLET_ERROR, `Not solvable pre-selected input COutPoint(${reverseHex(p.hash).slice(0, 10)}, ${p.index})`);
  }

  const unlock = await wallet.wallet.fundLock.lock();
  try {
    let changepos;
    try {
      const minconf = isMissing(opts.minconf) ? null : int(opts.minconf);
      if (minconf !== null && minconf < 0)
        throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, minconf cannot be negative');
      changepos = await wallet.fund(mtx, { rate, presetInputs: presets, subtractIndex: subtract.length ? subtract[0] : -1, changeScript, minconf });
    } catch (err) {
      // Core's funding RPCs report every coin selection failure as -4 (sendtoaddress uses -6).
      if (err.code === codes.WALLET_INSUFFICIENT_FUNDS)
        throw new RpcError(codes.WALLET_ERROR, err.message);
      throw err;
    }
    if (changepos !== -1) {
      const position = option(opts, 'changePosition', 'change_position');
      const want = isMissing(position) ? randomInt(mtx.outputs.length) : int(position);
      if (want < 0 || want >= mtx.outputs.length)
        throw new RpcError(codes.INVALID_PARAMETER, 'changePosition out of bounds');
      moveOutput(mtx, changepos, want);
      changepos = want;
    }
    const replaceable = bool(opts.replaceable, true);
    for (const input of mtx.inputs) {
      const preset = presets.find(p => p.hash === input.prevout.hash && p.index === input.prevout.index);
      input.sequence = preset ? preset.sequence : (replaceable ? RBF_SEQUENCE : 0xfffffffe);
      input.script = new Script();
      input.witness.clear();
    }
    // Locked before the fund lock is released, so no concurrent call picks them.
    if (bool(option(opts, 'lockUnspents', 'lock_unspents'), false)) {
      for (const input of mtx.inputs)
        wallet.lock(input.prevout);
    }
    return changepos;
  } finally {
    unlock();
  }
}

// Adds witness_utxo records for inputs the wallet knows. Core adds the
// non-witness UTXO (whole previous transaction) too; nothing here needs it.
async function fillWitnessUtxos(wallet, psbt) {
  for (let i = 0; i < psbt.tx.inputs.length; i++) {
    if (psbt.witnessUtxo(i) || psbt.isFinal(i))
      continue;
    const coin = await wallet.coinFor(psbt.tx.inputs[i].prevout);
    if (coin)
      psbt.setWitnessUtxo(i, coin.value, coin.script.toRaw());
  }
}

// Signs every input the wallet has a key for (P2WPKH); with `finalize`
// writes final witnesses, otherwise partial signatures.
async function signPsbt(wallet, psbt, hashType, finalize) {
  const mtx = MTX.fromTX(psbt.tx);
  for (let i = 0; i < mtx.inputs.length; i++) {
    const utxo = psbt.witnessUtxo(i);
    if (utxo && !psbt.isFinal(i))
      mtx.view.addCoin(coinFromPrevTx({ txid: reverseHex(mtx.inputs[i].prevout.hash), vout: mtx.inputs[i].prevout.index, scriptPubKey: utxo.script.toString('hex'), amount: utxo.value }));
  }
  await wallet.signRaw(mtx, [], hashType);
  mtx.inputs.forEach((input, i) => {
    const items = input.witness.items;
    if (psbt.isFinal(i) || items.length !== 2 || !mtx.view.getOutputFor(input))
      return;
    psbt.addPartialSig(i, items[1], items[0]);
  });
  if (finalize)
    psbt.finalizeAll();
}

// Unspent in the wallet, or (for outputs of wallet transactions that are not
// the wallet's own) in the chain's or mempool's view.
async function isUnspent(node, wallet, outpoint) {
  const own = await wallet.ownCoinUnspent(outpoint);
  if (own !== null)
    return own;
  if (node.mempool.isSpent(outpoint.hash, outpoint.index))
    return false;
  return Boolean(await coinForInput(node, outpoint));
}

async function pruneSpentLocks(node, wallet) {
  for (const outpoint of wallet.locked()) {
    if (!await isUnspent(node, wallet, outpoint))
      wallet.unlock(outpoint);
  }
}

module.exports = function register(def) {
  // wallet management
  def('createwallet', ['wallet_name', 'disable_private_keys', 'blank', 'passphrase', 'avoid_reuse', 'descriptors', 'load_on_startup', 'external_signer'], async ({ node }, [name]) => {
    const n = str(name);
    await node.wallets.create(n);
    return { name: n, warning: '' };
  });

  def('loadwallet', ['filename', 'load_on_startup'], async ({ node }, [name]) => {
    const n = str(name);
    node.wallets.load(n);
    return { name: n, warning: '' };
  });

  def('unloadwallet', ['wallet_name', 'load_on_startup'], async ({ node, uriWallet }, [name]) => {
    const n = isMissing(name) ? uriWallet : str(name);
    if (n === null)
      throw new RpcError(codes.INVALID_PARAMETER, 'Either the RPC endpoint wallet or the wallet name parameter must be provided');
    node.wallets.unload(n);
    return { warning: '' };
  });

  def('listwallets', [], async ({ node }) => node.wallets.list());

  // wallet methods (wallet: true -> ctx.wallet is the selected CoreWallet)
  def('getwalletinfo', [], async ({ node, wallet }) => {
    const b = await wallet.balances();
    return {
      walletname: wallet.name,
      walletversion: 169900,
      format: 'sqlite',
      balance: amount(b.trusted),
      unconfirmed_balance: amount(b.untrusted),
      immature_balance: amount(b.immature),
      txcount: await wallet.txCount(),
      keypoolsize: 1000,
      keypoolsize_hd_internal: 1000,
      paytxfee: amount(0),
      private_keys_enabled: true,
      avoid_reuse: false,
      scanning: false,
      descriptors: true,
      external_signer: false,
      blank: false,
      lastprocessedblock: { hash: node.tip.rhash(), height: node.chain.height }
    };
  }, { wallet: true });

  def('getnewaddress', ['label', 'address_type'], async ({ wallet }, [label, type]) => {
    const t = str(type, 'bech32');
    if (t !== 'bech32')
      throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, `Unknown address type '${t}' (the stand-in wallet only makes bech32 addresses)`);
    return wallet.newAddress(false);
  }, { wallet: true });

  def('getrawchangeaddress', ['address_type'], async ({ wallet }) => wallet.newAddress(true), { wallet: true });

  def('getbalance', ['dummy', 'minconf', 'include_watchonly', 'avoid_reuse'], async ({ wallet }, [dummy, minconf]) => {
    if (!isMissing(dummy) && dummy !== '*')
      throw new RpcError(codes.METHOD_DEPRECATED, 'dummy first argument must be excluded or set to "*".');
    const min = int(minconf, 0);
    let total = 0;
    for (const c of await wallet.credits()) {
      if (c.status === 'trusted' && c.depth >= min)
        total += c.coin.value;
    }
    return amount(total);
  }, { wallet: true });

  def('getbalances', [], async ({ node, wallet }) => {
    const b = await wallet.balances();
    return {
      mine: { trusted: amount(b.trusted), untrusted_pending: amount(b.untrusted), immature: amount(b.immature) },
      lastprocessedblock: { hash: node.tip.rhash(), height: node.chain.height }
    };
  }, { wallet: true });

  def('listunspent', ['minconf', 'maxconf', 'addresses', 'include_unsafe', 'query_options'], async ({ wallet }, [minconf, maxconf, addresses, includeUnsafe]) => {
    const list = await wallet.listUnspent(int(minconf, 1), int(maxconf, 9999999), isMissing(addresses) ? null : addresses, bool(includeUnsafe, true));
    return list.map(u => ({
      txid: reverseHex(u.coin.hash),
      vout: u.coin.index,
      address: u.address,
      label: '',
      scriptPubKey: u.scriptRaw.toString('hex'),
      amount: amount(u.coin.value),
      confirmations: u.confirmations,
      spendable: true,
      solvable: true,
      parent_descs: [],
      safe: u.safe
    }));
  }, { wallet: true });

  def('sendtoaddress', ['address', 'amount', 'comment', 'comment_to', 'subtractfeefromamount', 'replaceable', 'conf_target', 'estimate_mode', 'avoid_reuse', 'fee_rate', 'verbose'],
    async ({ node, wallet }, [address, value, c1, c2, subtract, replaceable, confTarget, mode, avoidReuse, feeRate]) => {
      const script = scriptFromAddress(address);
      const sats = parseAmount(value);
      if (sats <= 0)
        throw new RpcError(codes.TYPE_ERROR, 'Invalid amount for send');
      const tx = await wallet.send(script, sats, { rate: walletFeeRate(node, feeRate), subtractFee: bool(subtract, false) });
      return tx.txid();
    }, { wallet: true });

  def('fundrawtransaction', ['hexstring', 'options', 'iswitness'], async ({ node, wallet }, [hex, options]) => {
    const tx = decodeTx(hex);
    const mtx = new MTX();
    mtx.version = tx.version;
    mtx.locktime = tx.locktime;
    for (const output of tx.outputs)
      mtx.addOutput(output.script, output.value);
    const presets = tx.inputs.map(i => ({ hash: i.prevout.hash, index: i.prevout.index, sequence: i.sequence }));
    const changepos = await fundWithOptions(node, wallet, mtx, presets, options);
    return { hex: mtx.toTX().toRaw().toString('hex'), fee: amount(mtx.getFee()), changepos };
  }, { wallet: true });

  def('walletcreatefundedpsbt', ['inputs', 'outputs', 'locktime', 'options', 'bip32derivs', 'version'],
    async ({ node, wallet }, [inputs, outputs, locktime, options, , version]) => {
      if (!Array.isArray(inputs)) throw typeError(inputs, 'array');
      const mtx = new MTX();
      mtx.version = int(version, 2);
      if (mtx.version !== 1 && mtx.version !== 2)
        throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, version out of range(1~2)');
      mtx.locktime = int(locktime, 0);
      if (mtx.locktime < 0 || mtx.locktime > 0xffffffff)
        throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, locktime out of range');
      addOutputs(mtx, outputs);
      const replaceable = bool((options || {}).replaceable, true);
      const presets = inputs.map((input) => {
        const hash = hash256(input.txid, 'txid');
        const index = int(input.vout);
        if (index < 0) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, vout cannot be negative');
        const sequence = isMissing(input.sequence) ? (replaceable ? RBF_SEQUENCE : 0xfffffffe) : int(input.sequence);
        return { hash, index, sequence };
      });
      const changepos = await fundWithOptions(node, wallet, mtx, presets, options);
      const psbt = Psbt.fromTx(mtx.toTX());
      await fillWitnessUtxos(wallet, psbt);
      return { psbt: psbt.toBase64(), fee: amount(mtx.getFee()), changepos };
    }, { wallet: true });

  def('walletprocesspsbt', ['psbt', 'sign', 'sighashtype', 'bip32derivs', 'finalize'],
    async ({ wallet }, [text, sign, sighashtype, , finalize]) => {
      const psbt = Psbt.fromBase64(str(text));
      const hashType = SIGHASH_TYPES[str(sighashtype, 'DEFAULT')];
      if (hashType === undefined)
        throw new RpcError(codes.INVALID_PARAMETER, `${sighashtype} is not a valid sighash parameter.`);
      await fillWitnessUtxos(wallet, psbt);
      const doFinalize = bool(finalize, true);
      if (bool(sign, true))
        await signPsbt(wallet, psbt, hashType, doFinalize);
      // As Core: complete means final, so never without finalize (unless already final).
      const complete = psbt.tx.inputs.every((_, i) => psbt.isFinal(i));
      const result = { psbt: psbt.toBase64(), complete };
      if (complete && doFinalize)
        result.hex = psbt.extract().toRaw().toString('hex');
      return result;
    }, { wallet: true });
  def('signrawtransactionwithwallet', ['hexstring', 'prevtxs', 'sighashtype'], async ({ node, wallet }, [hex, prevtxs, sighashtype]) => {
    const tx = decodeTx(hex);
    const hashType = SIGHASH_TYPES[str(sighashtype, 'DEFAULT')];
    if (hashType === undefined)
      throw new RpcError(codes.INVALID_PARAMETER, `${sighashtype} is not a valid sighash parameter.`);
    const mtx = MTX.fromTX(tx);
    const extra = [];
    for (const p of prevtxs || []) {
      extra.push(coinFromPrevTx({ txid: str(p.txid), vout: int(p.vout), scriptPubKey: str(p.scriptPubKey), amount: parseAmount(isMissing(p.amount) ? 0 : p.amount) }));
    }
    for (const input of mtx.inputs) {
      const coin = await wallet.coinFor(input.prevout) || await coinForInput(node, input.prevout);
      if (coin) mtx.view.addCoin(coin);
    }
    await wallet.signRaw(mtx, extra, hashType);
    const errors = [];
    const flags = Script.flags.STANDARD_VERIFY_FLAGS;
    mtx.inputs.forEach((input, i) => {
      const coin = mtx.view.getOutputFor(input);
      let error = null;
      if (!coin)
        error = 'Input not found or already spent';
      else if (!mtx.verifyInput(i, coin, flags))
        error = 'Unable to sign input, invalid stack size (possibly missing key)';
      if (error) {
        errors.push({
          txid: reverseHex(input.prevout.hash),
          vout: input.prevout.index,
          witness: input.witness.items.map(w => w.toString('hex')),
          scriptSig: input.script.toRaw().toString('hex'),
          sequence: input.sequence,
          error
        });
      }
    });
    const result = { hex: mtx.toTX().toRaw().toString('hex'), complete: errors.length === 0 };
    if (errors.length) result.errors = errors;
    return result;
  }, { wallet: true });

  // Core's checks in Core's order; a lock on a coin that has since been spent
  // is dropped (Core unlocks a coin when a transaction spending it arrives).
  def('lockunspent', ['unlock', 'transactions', 'persistent'], async ({ node, wallet }, [unlockArg, transactions]) => {
    const unlock = bool(unlockArg);
    if (unlock === undefined) throw new RpcError(codes.MISC_ERROR, 'Missing required argument unlock');
    await pruneSpentLocks(node, wallet);
    if (isMissing(transactions)) {
      if (!unlock) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, transactions is required when locking');
      for (const o of wallet.locked()) wallet.unlock(o);
      return true;
    }
    if (!Array.isArray(transactions)) throw typeError(transactions, 'array');
    const outpoints = [];
    for (const t of transactions) {
      if (!t || typeof t !== 'object' || Array.isArray(t)) throw typeError(t, 'object');
      const outpoint = new Outpoint(hash256(t.txid, 'txid'), int(t.vout));
      if (outpoint.index < 0) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, vout cannot be negative');
      const wtx = await wallet.wallet.getTX(outpoint.hash);
      if (!wtx) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, unknown transaction');
      if (outpoint.index >= wtx.tx.outputs.length) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, vout index out of bounds');
      if (!await isUnspent(node, wallet, outpoint)) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, expected unspent output');
      const locked = wallet.isLocked(outpoint);
      if (unlock && !locked) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, expected locked output');
      if (!unlock && locked) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, output already locked');
      outpoints.push(outpoint);
    }
    for (const o of outpoints) {
      if (unlock) wallet.unlock(o);
      else wallet.lock(o);
    }
    return true;
  }, { wallet: true });

  def('listlockunspent', [], async ({ node, wallet }) => {
    await pruneSpentLocks(node, wallet);
    return wallet.locked().map(o => ({ txid: reverseHex(o.hash), vout: o.index }));
  }, { wallet: true });

  def('gettransaction', ['txid', 'include_watchonly', 'verbose'], async ({ node, wallet }, [txid]) => {
    const wtx = await wallet.wallet.getTX(hash256(txid, 'txid'));
    if (!wtx)
      throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'Invalid or non-wallet transaction id');
    const tx = wtx.tx;
    // Coins this wallet spent in the transaction (the wallet keeps them as history).
    const spent = await wallet.wallet.getSpentView(tx);
    let debit = 0;
    for (const input of tx.inputs) {
      const coin = spent.getOutputFor(input);
      if (coin) debit += coin.value;
    }
    const fromMe = debit > 0;
    const details = [];
    let credit = 0;
    for (let i = 0; i < tx.outputs.length; i++) {
      const output = tx.outputs[i];
      const outAddress = output.getAddress();
      const mine = outAddress ? await wallet.wallet.hasAddress(outAddress) : false;
      const address = classify(output.script.toRaw()).address;
      if (mine) {
        credit += output.value;
        if (!fromMe) details.push({ address, category: 'receive', amount: amount(output.value), vout: i });
      } else if (fromMe) {
        details.push({ address, category: 'send', amount: amount(-output.value), vout: i });
      }
    }
    // Core reports a fee only when every input was the wallet's.
    const allMine = fromMe && tx.inputs.every(input => spent.getOutputFor(input));
    const fee = allMine ? debit - tx.getOutputValue() : 0;
    const result = { amount: amount(credit - debit + fee) };
    if (allMine) result.fee = amount(-fee);
    const confirmations = wtx.height === -1 ? 0 : node.chain.height - wtx.height + 1;
    result.confirmations = confirmations;
    if (wtx.height !== -1) {
      result.blockhash = reverseHex(wtx.block);
      result.blockheight = wtx.height;
      result.blocktime = wtx.time;
    }
    result.txid = tx.txid();
    result.wtxid = tx.wtxid();
    result.time = wtx.mtime;
    result.timereceived = wtx.mtime;
    result['bip125-replaceable'] = confirmations > 0 ? 'no' : (tx.isRBF() ? 'yes' : 'no');
    result.details = details;
    result.hex = tx.toRaw().toString('hex');
    return result;
  }, { wallet: true });
};
