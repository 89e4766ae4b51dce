'use strict';

// Wallet management and wallet methods (`{ wallet: true }`: ctx.wallet is the
// CoreWallet selected by the request URI, already synced with the chain).

const MTX = require('bcoin/lib/primitives/mtx');
const Outpoint = require('bcoin/lib/primitives/outpoint');
const Script = require('bcoin/lib/script/script');
const { codes, RpcError } = require('../errors');
const { amount, parseAmount } = require('../json');
const { classify } = require('../address');
const { reverseHex } = require('../consensus');
const { decodeTx } = require('../txcodec');
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
    const opts = (options && typeof options === 'object') ? options : {};
    const rate = walletFeeRate(node, opts.fee_rate, opts.feeRate);
    const subtract = opts.subtractFeeFromOutputs || [];
    if (subtract.length > 1)
      throw new RpcError(codes.INVALID_PARAMETER, 'The stand-in supports at most one subtractFeeFromOutputs index');
    const changeScript = isMissing(opts.changeAddress) ? null : scriptFromAddress(opts.changeAddress);

    const mtx = new MTX();
    mtx.version = tx.version;
    mtx.locktime = tx.locktime;
    for (const output of tx.outputs)
      mtx.addOutput(output.script, output.value);
    const presets = tx.inputs.map(i => ({ hash: i.prevout.hash, index: i.prevout.index, sequence: i.sequence }));
    for (const p of presets) {
      if (!await wallet.coinFor(p))
        throw new RpcError(codes.WALLET_ERROR, `Not solvable pre-selected input COutPoint(${reverseHex(p.hash).slice(0, 10)}, ${p.index})`);
    }

    const unlock = await wallet.wallet.fundLock.lock();
    try {
      let changepos = await wallet.fund(mtx, { rate, presetInputs: presets, subtractIndex: subtract.length ? subtract[0] : -1, changeScript });
      if (changepos !== -1) {
        const want = isMissing(opts.changePosition) ? randomInt(mtx.outputs.length) : int(opts.changePosition);
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
      if (bool(opts.lockUnspents, false)) {
        for (const input of mtx.inputs)
          wallet.lock(input.prevout);
      }
      return { hex: mtx.toTX().toRaw().toString('hex'), fee: amount(mtx.getFee()), changepos };
    } finally {
      unlock();
    }
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

  def('lockunspent', ['unlock', 'transactions', 'persistent'], async ({ wallet }, [unlockArg, transactions]) => {
    const unlock = bool(unlockArg);
    if (isMissing(transactions)) {
      if (!unlock) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, transactions is required when locking');
      for (const o of wallet.locked()) wallet.unlock(o);
      return true;
    }
    if (!Array.isArray(transactions)) throw typeError(transactions, 'array');
    const outpoints = [];
    for (const t of transactions) {
      const outpoint = new Outpoint(hash256(t.txid, 'txid'), int(t.vout));
      if (outpoint.index < 0) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, vout cannot be negative');
      const coin = await wallet.coinFor(outpoint);
      if (!coin) throw new RpcError(codes.INVALID_PARAMETER, 'Invalid parameter, unknown transaction or expected unspent output');
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

  def('listlockunspent', [], async ({ wallet }) => wallet.locked().map(o => ({ txid: reverseHex(o.hash), vout: o.index })), { wallet: true });

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
