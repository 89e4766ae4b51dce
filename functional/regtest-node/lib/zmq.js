'use strict';

// ZMQ notifications in bitcoind's wire format (src/zmq/zmqpublishnotifier.cpp):
// three frames [topic, body, 4-byte little-endian per-notifier sequence].
// Hashes are sent in display (reversed) byte order. Notifiers that name the
// same address share one PUB socket, like Core.

const TOPICS = ['hashblock', 'hashtx', 'rawblock', 'rawtx', 'sequence'];
const DEFAULT_HWM = 1000;

class SocketQueue {
  constructor(socket, logger) {
    this.socket = socket;
    this.logger = logger;
    this.pending = Promise.resolve();
  }

  // zeromq.js allows one send in flight per socket; chaining keeps order.
  send(frames) {
    this.pending = this.pending
      .then(() => this.socket.send(frames))
      .catch(err => this.logger.warning('zmq send failed: %s', err.message));
    return this.pending;
  }

  async close() {
    await this.pending;
    this.socket.close();
  }
}

class ZmqPublisher {
  // endpoints: [{topic, address, hwm}]
  constructor(endpoints, logger) {
    this.endpoints = endpoints;
    this.logger = logger;
    this.notifiers = [];
    this.sockets = new Map();
  }

  async open() {
    if (this.endpoints.length === 0)
      return;
    const zmq = require('zeromq');
    for (const ep of this.endpoints) {
      let queue = this.sockets.get(ep.address);
      if (!queue) {
        const socket = new zmq.Publisher({ sendHighWaterMark: ep.hwm, linger: 0 });
        await socket.bind(ep.address);
        queue = new SocketQueue(socket, this.logger);
        this.sockets.set(ep.address, queue);
      }
      this.notifiers.push({ topic: ep.topic, address: ep.address, hwm: ep.hwm, queue, sequence: 0 });
    }
  }

  async close() {
    for (const queue of this.sockets.values())
      await queue.close();
    this.sockets.clear();
    this.notifiers = [];
  }

  has(topic) {
    return this.notifiers.some(n => n.topic === topic);
  }

  publish(topic, body) {
    for (const n of this.notifiers) {
      if (n.topic !== topic)
        continue;
      const seq = Buffer.alloc(4);
      seq.writeUInt32LE(n.sequence >>> 0);
      n.sequence = (n.sequence + 1) >>> 0;
      n.queue.send([Buffer.from(topic), body, seq]);
    }
  }

  // Matches getzmqnotifications: Core lists notifiers sorted by type name.
  describe() {
    return this.notifiers
      .map(n => ({ type: 'pub' + n.topic, address: n.address, hwm: n.hwm }))
      .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  }

  // --- typed helpers; `hash` arguments are display-order hex ---

  blockTip(hashDisplay, rawBlock) {
    this.publish('hashblock', Buffer.from(hashDisplay, 'hex'));
    if (this.has('rawblock'))
      this.publish('rawblock', rawBlock());
  }

  transaction(txidDisplay, rawTx) {
    this.publish('hashtx', Buffer.from(txidDisplay, 'hex'));
    if (this.has('rawtx'))
      this.publish('rawtx', rawTx());
  }

  sequence(hashDisplay, label, mempoolSequence) {
    const parts = [Buffer.from(hashDisplay, 'hex'), Buffer.from(label, 'ascii')];
    if (mempoolSequence !== undefined) {
      const seq = Buffer.alloc(8);
      seq.writeBigUInt64LE(BigInt(mempoolSequence));
      parts.push(seq);
    }
    this.publish('sequence', Buffer.concat(parts));
  }
}

module.exports = { ZmqPublisher, TOPICS, DEFAULT_HWM };
