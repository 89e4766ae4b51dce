'use strict';

// The stand-in full node: bcoin's chain, mempool and miner wired together
// the way bitcoind behaves on regtest, plus ZMQ and wallets. Everything that
// differs from stock bcoin is here so the RPC layer stays a thin adapter.

const EventEmitter = require('events');
const Chain = require('bcoin/lib/blockchain/chain');
const Mempool = require('bcoin/lib/mempool/mempool');
const Fees = require('bcoin/lib/mempool/fees');
const Miner = require('bcoin/lib/mining/miner');
const policy = require('bcoin/lib/protocol/policy');
const common = require('bcoin/lib/blockchain/common');
const consensus = require('bcoin/lib/protocol/consensus');
const Address = require('bcoin/lib/primitives/address');
const Script = require('bcoin/lib/script/script');
const Block = require('bcoin/lib/primitives/block');
const TX = require('bcoin/lib/primitives/tx');
const { WalletManager } = require('./wallets');
const { Mutex } = require('./mutex');
const { codes, RpcError } = require('./errors');

const COINBASE_MATURITY = consensus.COINBASE_MATURITY;
const MAX_TIP_AGE = 24 * 60 * 60;

// Outcome of a mempool acceptance attempt that did not add the transaction.
class TxReject extends Error {
  // kind: rejected | missing-inputs | already-in-mempool | already-in-chain | max-fee
  constructor(kind, reason) {
    super(reason);
    this.kind = kind;
    this.reason = reason;
  }
}

// Thrown from inside bcoin's mempool to stop a test-only acceptance right
// before the entry would be added, after every check has passed.
class DryRunAccepted extends Error {
  constructor(entry) {
    super('dry run accepted');
    this.entry = entry;
  }
}

class StandinNode extends EventEmitter {
  constructor({ network, logger, zmq, fallbackFeeRate, persistence = null }) {
    super();
    this.persistence = persistence;
    this.replaying = false;
    this.network = network;
    this.logger = logger;
    this.zmq = zmq;
    this.fallbackFeeRate = fallbackFeeRate; // sat/kvB
    this.startTime = Date.now();
    this.mempoolSequence = 1;
    this.confirming = null;
    this.reconnecting = new Set();
    this.acceptContexts = new Map();
    this.invalidations = [];
    this.latchedOutOfIbd = false;
    this.feeEstimate = null; // sat/kvB set by standin_setfeeestimate
    this.miningLock = new Mutex();

    this.chain = new Chain({
      network,
      logger,
      memory: true,
      indexTX: true,
      workers: null
    });
    this.fees = new Fees(logger);
    this.fees.init();
    this.mempool = new Mempool({
      network,
      logger,
      chain: this.chain,
      fees: this.fees,
      memory: true,
      workers: null,
      requireStandard: true,
      replaceByFee: true,
      relayPriority: false,
      limitFree: false,
      rejectAbsurdFees: false,
      maxOrphans: 0,
      minRelay: 1000
    });
    this.miner = new Miner({
      network,
      logger,
      chain: this.chain,
      mempool: this.mempool,
      workers: null
    });
    this.wallets = new WalletManager(this);
    this.patchMempool();
    this.wireEvents();
  }

  async open() {
    await this.chain.open();
    // bcoin derives deployment flags from the tip's parent, which genesis
    // lacks; compute them for the next block so the mempool sees segwit/CSV.
    if (this.chain.tip.height === 0)
      this.chain.setDeploymentState(await this.chain.getDeployments(this.chain.tip.time, this.chain.tip));
    await this.mempool.open();
    await this.miner.open();
    await this.wallets.open();
  }

  // With -persist: rebuild wallets, replay the saved chain through full
  // validation, then reload the mempool saved at the last clean shutdown.
  async restore() {
    if (!this.persistence)
      return;
    await this.wallets.restore();
    const blocks = this.persistence.blocks.load();
    this.replaying = true;
    try {
      for (let i = 0; i < blocks.length; i++) {
        try {
          await this.chain.add(Block.fromRaw(blocks[i]));
        } catch (err) {
          this.logger.error('Replay stopped at height %d: %s', i + 1, err.message);
          this.persistence.blocks.disconnected(i + 1);
          break;
        }
      }
    } finally {
      this.replaying = false;
    }
    for (const raw of this.persistence.mempool.take()) {
      try {
        await this.acceptTx(TX.fromRaw(raw));
      } catch (err) {
        this.logger.info('Not reloading mempool tx: %s', err.message);
      }
    }
    await this.wallets.sync();
    this.logger.info('Restored %d blocks from %s', blocks.length, this.persistence.blocks.file);
  }

  async close() {
    if (this.persistence)
      this.persistence.mempool.save(Array.from(this.mempool.map.values()).map(e => e.tx.toRaw()));
    await this.wallets.close();
    await this.miner.close();
    await this.mempool.close();
    await this.chain.close();
  }

  // --- wiring ---------------------------------------------------------

  patchMempool() {
    const mempool = this.mempool;
    const addEntry = mempool.addEntry.bind(mempool);
    mempool.addEntry = async (entry, view) => {
      const ctx = this.acceptContexts.get(entry.tx.hash('hex'));
      if (ctx) {
        // bcoin's relay-priority rules are off; enforce Core's plain
        // min relay fee (1 sat/vB on the sigop-adjusted vsize).
        const minFee = policy.getMinFee(entry.size, policy.MIN_RELAY);
        if (entry.fee < minFee)
          throw new TxReject('rejected', `min relay fee not met, ${entry.fee} < ${minFee}`);
        if (ctx.maxFeeRate > 0 && entry.fee > Math.floor((ctx.maxFeeRate * entry.size) / 1000))
          throw new TxReject('max-fee', 'max-fee-exceeded');
        ctx.entry = entry;
        if (ctx.testOnly)
          throw new DryRunAccepted(entry);
      }
      return addEntry(entry, view);
    };
  }

  wireEvents() {
    const { chain, mempool } = this;

    chain.on('reconnect', (entry) => {
      this.reconnecting.add(entry.hash);
    });

    chain.on('connect', async (entry, block) => {
      this.confirming = new Set(block.txs.map(tx => tx.hash('hex')));
      try {
        await mempool._addBlock(entry, block.txs);
      } catch (e) {
        this.logger.error(e);
      } finally {
        this.confirming = null;
      }
      // Core: BlockConnected (every tx, then 'C'), then UpdatedBlockTip.
      for (const tx of block.txs)
        this.zmq.transaction(tx.txid(), () => tx.toRaw());
      this.zmq.sequence(entry.rhash(), 'C');
      // Intermediate blocks of a reorg do not get a tip notification.
      if (this.reconnecting.has(entry.hash))
        this.reconnecting.delete(entry.hash);
      else
        this.zmq.blockTip(entry.rhash(), () => block.toRaw());
      if (entry.time >= this.network.now() - MAX_TIP_AGE)
        this.latchedOutOfIbd = true;
      this.wallets.blockConnected(entry, block.txs);
      if (this.persistence && !this.replaying)
        this.persistence.blocks.connected(entry.height, block.toRaw());
    });

    chain.on('disconnect', async (entry, block) => {
      for (const tx of block.txs)
        this.zmq.transaction(tx.txid(), () => tx.toRaw());
      this.zmq.sequence(entry.rhash(), 'D');
      this.wallets.blockDisconnected(entry);
      if (this.persistence)
        this.persistence.blocks.disconnected(entry.height);
      await this.returnToMempool(entry, block.txs);
    });

    chain.on('reorganize', async () => {
      await this.removeForReorg();
    });

    mempool.on('tx', (tx) => {
      const seq = this.mempoolSequence++;
      this.zmq.transaction(tx.txid(), () => tx.toRaw());
      this.zmq.sequence(tx.txid(), 'A', seq);
      this.wallets.transactionAdded(tx);
    });

    mempool.on('remove entry', (entry) => {
      const seq = this.mempoolSequence++;
      // Core publishes removals for every reason except block inclusion.
      if (this.confirming && this.confirming.has(entry.tx.hash('hex')))
        return;
      this.zmq.sequence(entry.tx.txid(), 'R', seq);
    });

    for (const emitter of [chain, mempool, this.miner]) {
      emitter.on('error', (err) => {
        this.logger.error(err);
      });
    }
  }

  // bcoin skips this when its mempool is empty; Core always returns the
  // transactions of a disconnected block to the mempool.
  async returnToMempool(entry, txs) {
    for (let i = 1; i < txs.length; i++) {
      const tx = txs[i];
      if (this.mempool.hasEntry(tx.hash('hex')))
        continue;
      try {
        await this.mempool.insertTX(tx, -1);
      } catch (e) {
        this.logger.debug('Not returning %s to mempool: %s', tx.txid(), e.message);
      }
    }
    this.mempool.tip = entry.prevBlock;
  }

  // Core's removeForReorg: drop what the shorter chain made invalid
  // (locktimes, sequence locks, immature coinbase spends).
  async removeForReorg() {
    const flags = common.lockFlags.STANDARD_LOCKTIME_FLAGS;
    const nextHeight = this.chain.height + 1;
    for (const entry of Array.from(this.mempool.map.values())) {
      const tx = entry.tx;
      if (!this.mempool.hasEntry(tx.hash('hex')))
        continue;
      let keep = await this.mempool.verifyFinal(tx, flags);
      if (keep) {
        const view = await this.mempool.getCoinView(tx);
        keep = tx.inputs.every(input => view.hasEntry(input.prevout) || this.mempool.hasEntry(input.prevout.hash));
        keep = keep && await this.mempool.verifyLocks(tx, view, flags);
        for (const input of tx.inputs) {
          const coinEntry = view.getEntry(input.prevout);
          if (coinEntry && coinEntry.coinbase && coinEntry.height !== -1
              && nextHeight - coinEntry.height < COINBASE_MATURITY)
            keep = false;
        }
      }
      if (!keep)
        this.mempool.evictEntry(entry);
    }
  }

  // --- queries --------------------------------------------------------

  get tip() {
    return this.chain.tip;
  }

  isInitialBlockDownload() {
    if (!this.latchedOutOfIbd && this.chain.tip.time >= this.network.now() - MAX_TIP_AGE)
      this.latchedOutOfIbd = true;
    return !this.latchedOutOfIbd;
  }

  async confirmations(entry) {
    if (!await this.chain.isMainChain(entry))
      return -1;
    return this.chain.tip.height - entry.height + 1;
  }

  // --- mempool acceptance ----------------------------------------------

  async acceptTx(tx, { testOnly = false, maxFeeRate = 0 } = {}) {
    const hash = tx.hash('hex');
    if (this.acceptContexts.has(hash))
      throw new TxReject('already-in-mempool', 'txn-already-in-mempool');
    const ctx = { testOnly, maxFeeRate, entry: null };
    this.acceptContexts.set(hash, ctx);
    try {
      let missing;
      try {
        missing = await this.mempool.addTX(tx);
      } catch (err) {
        if (err instanceof DryRunAccepted)
          return err.entry;
        const reject = err instanceof TxReject ? err
          : err.type === 'VerifyError' ? StandinNode.mapVerifyError(err) : null;
        if (!reject)
          throw err;
        this.logger.info('AcceptToMemoryPool: %s%s rejected: %s', tx.txid(), testOnly ? ' (test)' : '', reject.reason);
        throw reject;
      }
      if (missing) {
        this.logger.info('AcceptToMemoryPool: %s rejected: missing inputs', tx.txid());
        throw new TxReject('missing-inputs', 'bad-txns-inputs-missingorspent');
      }
      return ctx.entry;
    } finally {
      this.acceptContexts.delete(hash);
    }
  }

  static mapVerifyError(err) {
    switch (err.reason) {
      case 'txn-already-in-mempool':
        return new TxReject('already-in-mempool', err.reason);
      case 'txn-already-known':
        return new TxReject('already-in-chain', err.reason);
      case 'bad-txns-inputs-spent':
        return new TxReject('rejected', 'txn-mempool-conflict');
      case 'mandatory-script-verify-flag':
        return new TxReject('rejected', 'mandatory-script-verify-flag-failed');
      default:
        return new TxReject('rejected', err.reason);
    }
  }

  // --- mining -----------------------------------------------------------

  static addressFromScript(scriptRaw) {
    const address = Address.fromScript(Script.fromRaw(scriptRaw));
    if (!address)
      throw new Error('unsupported output script for mining');
    return address;
  }

  async generate(count, scriptRaw) {
    const address = StandinNode.addressFromScript(scriptRaw);
    const unlock = await this.miningLock.lock();
    const hashes = [];
    try {
      for (let i = 0; i < count; i++) {
        const block = await this.miner.mineBlock(this.chain.tip, address);
        await this.chain.add(block);
        hashes.push(block.rhash());
      }
    } finally {
      unlock();
    }
    // The wallet follows the chain asynchronously; callers expect it caught up.
    await this.wallets.sync();
    return hashes;
  }

  // Mines a block with exactly `txs` (in order) on the current tip.
  async generateBlock(scriptRaw, txs, submit) {
    const address = StandinNode.addressFromScript(scriptRaw);
    const unlock = await this.miningLock.lock();
    try {
      const attempt = await this.miner.createBlock(this.chain.tip, address);
      attempt.items.length = 0;
      attempt.fees = 0;
      attempt.weight = 0;
      attempt.sigops = 0;
      for (const tx of txs) {
        const view = await this.mempool.getCoinView(tx);
        attempt.pushTX(tx, view);
      }
      attempt.refresh();
      const block = attempt.toBlock();
      while (!block.verifyPOW()) {
        block.nonce = (block.nonce + 1) >>> 0;
        block.refresh();
      }
      if (submit) {
        try {
          await this.chain.add(block);
        } catch (err) {
          if (err.type === 'VerifyError')
            throw new RpcError(codes.VERIFY_ERROR, `TestBlockValidity failed: ${err.reason}`);
          throw err;
        }
      }
      await this.wallets.sync();
      return block;
    } finally {
      unlock();
    }
  }

  // Returns null when the block became the tip, otherwise Core's
  // submitblock result string.
  async submitBlock(block) {
    const hash = block.hash('hex');
    if (await this.chain.hasEntry(hash))
      return this.chain.invalid.has(hash) ? 'duplicate-invalid' : 'duplicate';
    if (this.chain.invalid.has(block.prevBlock))
      return 'bad-prevblk';
    const prev = await this.chain.getEntry(block.prevBlock);
    if (!prev)
      return 'prev-blk-not-found';
    try {
      await this.chain.add(block);
    } catch (err) {
      if (err.type === 'VerifyError')
        return err.reason;
      throw err;
    }
    await this.wallets.sync();
    return this.chain.tip.hash === hash ? null : 'inconclusive';
  }

  // --- invalidateblock / reconsiderblock -------------------------------

  async invalidateBlock(entry) {
    const unlock = await this.chain.locker.lock();
    let newTip = null;
    try {
      const disconnected = [];
      this.chain.setInvalid(entry.hash);
      if (await this.chain.isMainChain(entry)) {
        while (this.chain.tip.height >= entry.height) {
          const tip = this.chain.tip;
          disconnected.push(tip);
          await this.chain.disconnect(tip);
        }
        this.chain.setDeploymentState(await this.chain.getDeploymentState());
        await this.removeForReorg();
      }
      for (const e of disconnected)
        this.chain.setInvalid(e.hash);
      this.invalidations.push({ root: entry, disconnected });
      // Like Core, switch to another known chain if it now has more work.
      newTip = await this.activateBestChain(new Set());
    } finally {
      unlock();
    }
    await this.announceTip(newTip);
  }

  async reconsiderBlock(entry) {
    const unlock = await this.chain.locker.lock();
    let newTip = null;
    try {
      // Core clears failure flags on the block, its descendants and ancestors.
      const remaining = [];
      const reconsidered = new Set();
      for (const inv of this.invalidations) {
        const related = await this.isAncestorOrSelf(inv.root, entry) || await this.isAncestorOrSelf(entry, inv.root);
        if (!related) {
          remaining.push(inv);
          continue;
        }
        for (const e of [inv.root, ...inv.disconnected]) {
          this.chain.removeInvalid(e.hash);
          reconsidered.add(e.hash);
        }
      }
      this.chain.removeInvalid(entry.hash);
      this.invalidations = remaining;
      newTip = await this.activateBestChain(reconsidered);
    } finally {
      unlock();
    }
    await this.announceTip(newTip);
  }

  async isAncestorOrSelf(ancestor, entry) {
    if (entry.height < ancestor.height)
      return false;
    const at = await this.chain.getAncestor(entry, ancestor.height);
    return Boolean(at) && at.hash === ancestor.hash;
  }

  // True if no block between `entry` and the main chain is marked invalid.
  async isValidBranch(entry) {
    let e = entry;
    while (e && !await this.chain.isMainChain(e)) {
      if (this.chain.invalid.has(e.hash))
        return false;
      e = await this.chain.getPrevious(e);
    }
    return Boolean(e);
  }

  // Reorganizes to the valid known tip with the most work (caller holds the
  // chain lock). On equal work, blocks in `seenEarlier` win: Core's
  // CBlockIndexWorkComparator prefers the chain that arrived first.
  async activateBestChain(seenEarlier) {
    let best = this.chain.tip;
    for (const hash of await this.chain.getTips()) {
      const entry = await this.chain.getEntry(hash);
      if (!entry || entry.hash === best.hash || !await this.isValidBranch(entry))
        continue;
      const more = entry.chainwork.gt(best.chainwork);
      const tieWin = entry.chainwork.eq(best.chainwork) && seenEarlier.has(entry.hash) && !seenEarlier.has(best.hash);
      if (more || tieWin)
        best = entry;
    }
    if (best.hash === this.chain.tip.hash)
      return null;
    try {
      await this.chain.reorganize(best);
      await this.chain.reconnect(best);
    } catch (err) {
      this.logger.error('Reorganization to %s failed: %s', best.rhash(), err.message);
      return null;
    }
    return best;
  }

  // Blocks connected by our own reorganizations get Core's single tip notification.
  async announceTip(entry) {
    if (entry) {
      const block = await this.chain.getBlock(entry.hash);
      this.zmq.blockTip(entry.rhash(), () => block.toRaw());
    }
    await this.wallets.sync();
  }
}

module.exports = { StandinNode, TxReject };
