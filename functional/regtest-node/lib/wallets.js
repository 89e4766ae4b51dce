'use strict';

// Core-style wallets on top of bcoin's WalletDB. bcoin's wallet follows the
// chain asynchronously; every event is queued on WalletDB's txLock (FIFO),
// so taking and releasing that lock is a barrier that guarantees the wallet
// has seen everything the node has done so far.

const AsyncEmitter = require('bevent');
const WalletDB = require('bcoin/lib/wallet/walletdb');
const MTX = require('bcoin/lib/primitives/mtx');
const Coin = require('bcoin/lib/primitives/coin');
const Script = require('bcoin/lib/script/script');
const Address = require('bcoin/lib/primitives/address');
const consensus = require('bcoin/lib/protocol/consensus');
const { codes, RpcError } = require('./errors');
const { classify } = require('./address');
const { reverseHex } = require('./consensus');

// Core's wallet treats a coinbase as immature until it has 101 confirmations.
const WALLET_COINBASE_MATURITY = consensus.COINBASE_MATURITY + 1;
const RBF_SEQUENCE = 0xfffffffd;

// The interface WalletDB expects from its node connection, served in-process.
class ChainClient extends AsyncEmitter {
  constructor(node) {
    super();
    this.node = node;
    this.filter = null;
  }

  async open() {}

  async close() {}

  bind(type, handler) {
    return this.on(type, handler);
  }

  hook(type, handler) {
    return this.on(type, handler);
  }

  async getTip() {
    return this.node.chain.tip;
  }

  async getEntry(hash) {
    const entry = await this.node.chain.getEntry(hash);
    if (!entry || !await this.node.chain.isMainChain(entry))
      return null;
    return entry;
  }

  async send(tx) {
    try {
      await this.node.acceptTx(tx);
    } catch (e) {
      this.node.logger.debug('wallet rebroadcast of %s failed: %s', tx.txid(), e.message);
    }
  }

  async setFilter(filter) {
    this.filter = filter;
  }

  async addFilter() {}

  async resetFilter() {}

  async estimateFee() {
    return this.node.fallbackFeeRate;
  }

  async getHashes(start = -1, end = -1) {
    return this.node.chain.getHashes(start, end);
  }

  async rescan(start) {
    return this.node.chain.scan(start, this.filter, (entry, txs) => this.emitAsync('block rescan', entry, txs));
  }
}

class WalletManager {
  constructor(node) {
    this.node = node;
    this.client = new ChainClient(node);
    this.wdb = new WalletDB({
      network: node.network,
      logger: node.logger,
      client: this.client,
      memory: true,
      witness: true
    });
    this.known = new Map(); // Core wallet name -> bcoin Wallet
    this.loaded = new Set(); // names of loaded wallets
    this.saved = {}; // name -> { xprv, receive, change } for persistence
    this.nextId = 1;
  }

  async open() {
    await this.wdb.open();
    await this.wdb.syncNode();
  }

  async close() {
    await this.sync();
    await this.wdb.close();
  }

  // --- chain feed (queued, never awaited by the chain) ------------------

  queue(promise) {
    promise.catch(err => this.node.logger.error(err));
  }

  blockConnected(entry, txs) {
    this.queue(this.wdb.addBlock(entry, txs));
  }

  blockDisconnected(entry) {
    this.queue(this.wdb.removeBlock(entry));
  }

  transactionAdded(tx) {
    this.queue(this.wdb.addTX(tx));
  }

  async sync() {
    const unlock = await this.wdb.txLock.lock();
    unlock();
  }

  // --- wallet registry -----------------------------------------------------

  // Creates (or, if known, just loads) the wallet `name`. With persistence
  // the master key is saved so a restarted stand-in rebuilds the same keys.
  async create(name) {
    if (!this.known.has(name))
      await this.instantiate(name, null);
    this.loaded.add(name);
  }

  async instantiate(name, saved) {
    const options = { id: `w${this.nextId++}`, witness: true };
    if (saved)
      options.master = saved.xprv;
    const wallet = await this.wdb.create(options);
    this.known.set(name, wallet);
    if (saved) {
      for (let i = 0; i < saved.receive; i++)
        await wallet.createReceive();
      for (let i = 0; i < saved.change; i++)
        await wallet.createChange();
    }
    this.saved[name] = saved || { xprv: wallet.master.key.toBase58(this.node.network), receive: 0, change: 0 };
    this.save();
    return wallet;
  }

  // Recreates persisted wallets (unloaded, like bitcoind) before the chain replays.
  async restore() {
    const store = this.node.persistence;
    if (!store)
      return;
    for (const [name, saved] of Object.entries(store.wallets.read()))
      await this.instantiate(name, saved);
  }

  save() {
    if (this.node.persistence)
      this.node.persistence.wallets.write(this.saved);
  }

  noteAddress(name, change) {
    this.saved[name][change ? 'change' : 'receive'] += 1;
    this.save();
  }

  load(name) {
    if (!this.known.has(name))
      throw new RpcError(codes.WALLET_NOT_FOUND, `Wallet file verification failed. Failed to load database path '${name}'. Path does not exist.`);
    this.loaded.add(name);
  }

  unload(name) {
    if (!this.loaded.has(name))
      throw new RpcError(codes.WALLET_NOT_FOUND, 'Requested wallet does not exist or is not loaded');
    this.loaded.delete(name);
  }

  list() {
    return Array.from(this.loaded);
  }

  // Resolves the wallet for a request, following Core's URI rules.
  resolve(uriName) {
    if (uriName !== null) {
      if (!this.loaded.has(uriName))
        throw new RpcError(codes.WALLET_NOT_FOUND, 'Requested wallet does not exist or is not loaded');
      return new CoreWallet(this, uriName, this.known.get(uriName));
    }
    if (this.loaded.size === 1) {
      const name = this.loaded.values().next().value;
      return new CoreWallet(this, name, this.known.get(name));
    }
    if (this.loaded.size === 0)
      throw new RpcError(codes.WALLET_NOT_FOUND, 'No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)');
    throw new RpcError(codes.WALLET_NOT_SPECIFIED, 'Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).');
  }
}

function addressOf(scriptRaw) {
  return classify(scriptRaw).address;
}

// One Core wallet as seen by the RPC layer.
class CoreWallet {
  constructor(manager, name, wallet) {
    this.manager = manager;
    this.node = manager.node;
    this.name = name;
    this.wallet = wallet;
  }

  get height() {
    return this.manager.wdb.state.height;
  }

  async newAddress(change = false) {
    const key = change ? await this.wallet.createChange() : await this.wallet.createReceive();
    this.manager.noteAddress(this.name, change);
    return addressOf(Script.fromAddress(key.getAddress()).toRaw());
  }

  depth(coin) {
    return coin.height === -1 ? 0 : this.height - coin.height + 1;
  }

  isImmature(coin) {
    return coin.coinbase && this.depth(coin) < WALLET_COINBASE_MATURITY;
  }

  // Unspent credits with Core's trust classification.
  async credits() {
    const credits = await this.wallet.getCredits();
    return credits
      .filter(credit => !credit.spent)
      .map((credit) => {
        const coin = credit.coin;
        let status;
        if (this.isImmature(coin))
          status = 'immature';
        else if (coin.height !== -1 || credit.own)
          status = 'trusted';
        else
          status = 'untrusted';
        return { coin, status, depth: this.depth(coin) };
      });
  }

  async balances() {
    const totals = { trusted: 0, untrusted: 0, immature: 0 };
    for (const c of await this.credits())
      totals[c.status] += c.coin.value;
    return totals;
  }

  async listUnspent(minconf, maxconf, addresses, includeUnsafe) {
    const result = [];
    for (const c of await this.credits()) {
      if (c.status === 'immature')
        continue;
      if (this.wallet.isLocked(c.coin))
        continue;
      if (c.depth < minconf || c.depth > maxconf)
        continue;
      const safe = c.status === 'trusted';
      if (!safe && !includeUnsafe)
        continue;
      const scriptRaw = c.coin.script.toRaw();
      const address = addressOf(scriptRaw);
      if (addresses && !addresses.includes(address))
        continue;
      result.push({ coin: c.coin, address, scriptRaw, confirmations: c.depth, safe });
    }
    return result;
  }

  // Funds `mtx` (outputs set, optional preset wallet inputs) at `rate`
  // sat/kvB. Returns the change output index or -1.
  // minconf (Core's option): only coins at least that deep are selected.
  async fund(mtx, { rate, presetInputs = [], subtractIndex = -1, changeScript = null, minconf = null }) {
    const smart = await this.wallet.getSmartCoins();
    const coins = minconf === null ? smart : smart.filter(coin => this.depth(coin) >= minconf);
    const changeAddress = changeScript
      ? Address.fromScript(Script.fromRaw(changeScript))
      : await this.wallet.changeAddress();
    const estimate = prev => this.wallet.estimateSize(prev);
    try {
      await mtx.fund(coins, {
        changeAddress,
        height: this.height,
        rate,
        inputs: presetInputs.map(p => ({ hash: p.hash, index: p.index })),
        subtractFee: subtractIndex !== -1,
        subtractIndex,
        estimate
      });
    } catch (err) {
      if (err.type === 'FundingError' || /Not enough funds/.test(err.message))
        throw new RpcError(codes.WALLET_INSUFFICIENT_FUNDS, 'Insufficient funds');
      if (/preferred inputs/.test(err.message))
        throw new RpcError(codes.WALLET_ERROR, 'Not solvable pre-selected input');
      throw new RpcError(codes.WALLET_ERROR, err.message);
    }
    // bcoin's estimate leaves out each input's scriptSig length byte and the
    // segwit marker; the change pays for them so the fee meets `rate`, as Core's does.
    const vsize = await mtx.estimateSize(estimate) + mtx.inputs.length + 1;
    const shortfall = Math.ceil((rate * vsize) / 1000) - mtx.getFee();
    if (shortfall > 0 && mtx.changeIndex !== -1) {
      const change = mtx.outputs[mtx.changeIndex];
      change.value -= shortfall;
      if (change.isDust()) {
        mtx.outputs.splice(mtx.changeIndex, 1);
        mtx.changeIndex = -1;
      }
    }
    return mtx.changeIndex;
  }

  // sendtoaddress: fund, sign, submit; one at a time per wallet so two
  // concurrent sends never pick the same coins.
  async send(scriptRaw, value, { rate, subtractFee }) {
    const unlock = await this.wallet.fundLock.lock();
    let tx;
    try {
      const mtx = new MTX();
      mtx.version = 2;
      mtx.addOutput(Script.fromRaw(scriptRaw), value);
      if (mtx.outputs[0].isDust())
        throw new RpcError(codes.WALLET_ERROR, 'Transaction amount too small');
      const changeIndex = await this.fund(mtx, { rate, subtractIndex: subtractFee ? 0 : -1 });
      if (changeIndex !== -1)
        moveOutput(mtx, changeIndex, randomInt(mtx.outputs.length));
      // Core's wallet: anti-fee-sniping locktime and BIP125 signaling.
      mtx.locktime = this.node.chain.height;
      for (const input of mtx.inputs)
        input.sequence = RBF_SEQUENCE;
      await this.wallet.sign(mtx);
      if (!mtx.isSigned())
        throw new RpcError(codes.WALLET_ERROR, 'Signing transaction failed');
      tx = mtx.toTX();
      try {
        await this.node.acceptTx(tx);
      } catch (err) {
        if (err.kind)
          throw new RpcError(codes.WALLET_ERROR, err.reason);
        throw err;
      }
    } finally {
      unlock();
    }
    await this.manager.sync();
    return tx;
  }

  // For the wallet's own outputs whether no wallet transaction (mempool or
  // block) spends them; null for outputs that are not the wallet's.
  async ownCoinUnspent(prevout) {
    const credit = await this.wallet.txdb.getCredit(prevout.hash, prevout.index);
    return credit ? !credit.spent : null;
  }

  async coinFor(prevout) {
    return this.wallet.getCoin(prevout.hash, prevout.index);
  }

  async signRaw(mtx, extraCoins, hashType) {
    const rings = await this.wallet.deriveInputs(mtx);
    for (const coin of extraCoins)
      mtx.view.addCoin(coin);
    await mtx.signAsync(rings, hashType);
  }

  lock(outpoint) {
    this.wallet.lockCoin(outpoint);
  }

  unlock(outpoint) {
    this.wallet.unlockCoin(outpoint);
  }

  isLocked(outpoint) {
    return this.wallet.isLocked(outpoint);
  }

  locked() {
    return this.wallet.getLocked();
  }

  async txCount() {
    const history = await this.wallet.getHistory();
    return history.length;
  }
}

function randomInt(n) {
  return Math.floor(Math.random() * n);
}

function moveOutput(mtx, from, to) {
  const [output] = mtx.outputs.splice(from, 1);
  mtx.outputs.splice(to, 0, output);
  mtx.changeIndex = to;
}

function coinFromPrevTx({ txid, vout, scriptPubKey, amount }) {
  const coin = new Coin();
  coin.hash = reverseHex(txid);
  coin.index = vout;
  coin.script = Script.fromRaw(Buffer.from(scriptPubKey, 'hex'));
  coin.value = amount;
  coin.height = -1;
  return coin;
}

module.exports = { WalletManager, coinFromPrevTx, moveOutput, randomInt, RBF_SEQUENCE };
