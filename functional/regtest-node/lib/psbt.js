'use strict';

// A minimal BIP174 (version 0) PSBT: the key-value maps are kept as raw
// [key, value] pairs so unknown records survive a round trip; only the
// records the wallet RPCs use are interpreted: the global unsigned
// transaction (0x00), per-input witness UTXO (0x01), partial signatures
// (0x02), final scriptSig (0x07) and final script witness (0x08).

const Script = require('bcoin/lib/script/script');
const Witness = require('bcoin/lib/script/witness');
const hash160 = require('bcrypto/lib/hash160').digest;
const { codes, RpcError } = require('./errors');
const { decodeTxRaw } = require('./txcodec');

const MAGIC = Buffer.from('70736274ff', 'hex'); // "psbt" 0xff
const GLOBAL_UNSIGNED_TX = 0x00;
const GLOBAL_VERSION = 0xfb;
const IN_WITNESS_UTXO = 0x01;
const IN_PARTIAL_SIG = 0x02;
const IN_SIGHASH_TYPE = 0x03;
const IN_REDEEM_SCRIPT = 0x04;
const IN_WITNESS_SCRIPT = 0x05;
const IN_BIP32_DERIVATION = 0x06;
const IN_FINAL_SCRIPTSIG = 0x07;
const IN_FINAL_SCRIPTWITNESS = 0x08;

// Records BIP174 says a finalizer removes once an input is final.
const CLEARED_ON_FINALIZE = [IN_PARTIAL_SIG, IN_SIGHASH_TYPE, IN_REDEEM_SCRIPT, IN_WITNESS_SCRIPT, IN_BIP32_DERIVATION];

function decodeError(reason) {
  return new RpcError(codes.DESERIALIZATION_ERROR, `TX decode failed ${reason}`);
}

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }

  bytes(n) {
    if (this.pos + n > this.buf.length)
      throw decodeError('end of data');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return Buffer.from(out);
  }

  varint() {
    const first = this.bytes(1)[0];
    if (first < 0xfd) return first;
    if (first === 0xfd) return this.bytes(2).readUInt16LE(0);
    if (first === 0xfe) return this.bytes(4).readUInt32LE(0);
    const v = this.bytes(8).readBigUInt64LE(0);
    if (v > 0x02000000n) throw decodeError('size too large');
    return Number(v);
  }

  varbytes() {
    return this.bytes(this.varint());
  }
}

function varint(n) {
  if (n < 0xfd) return Buffer.from([n]);
  if (n <= 0xffff) {
    const b = Buffer.alloc(3);
    b[0] = 0xfd;
    b.writeUInt16LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = 0xfe;
  b.writeUInt32LE(n, 1);
  return b;
}

function varbytes(buf) {
  return Buffer.concat([varint(buf.length), buf]);
}

// Reads one key-value map up to its 0x00 separator; keys must be unique.
function readMap(r, where) {
  const map = [];
  const seen = new Set();
  for (;;) {
    if (r.pos >= r.buf.length)
      throw decodeError(`Separator is missing at the end of ${where}`);
    const key = r.varbytes();
    if (key.length === 0)
      return map;
    const hex = key.toString('hex');
    if (seen.has(hex))
      throw decodeError(`Duplicate Key, ${where} key ${hex} already provided`);
    seen.add(hex);
    map.push([key, r.varbytes()]);
  }
}

function writeMap(map) {
  const parts = [];
  for (const [key, value] of map)
    parts.push(varbytes(key), varbytes(value));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function findRecord(map, type) {
  return map.find(([key]) => key[0] === type) || null;
}

function setRecord(map, type, value) {
  removeRecords(map, [type]);
  map.push([Buffer.from([type]), value]);
}

function removeRecords(map, types) {
  for (let i = map.length - 1; i >= 0; i--) {
    if (types.includes(map[i][0][0]))
      map.splice(i, 1);
  }
}

function encodeStack(items) {
  return Buffer.concat([varint(items.length), ...items.map(varbytes)]);
}

function decodeStack(value) {
  const r = new Reader(value);
  const items = [];
  const n = r.varint();
  for (let i = 0; i < n; i++)
    items.push(r.varbytes());
  if (r.pos !== value.length)
    throw decodeError('Size of value was not the stated size');
  return items;
}

class Psbt {
  // `tx` is a bcoin TX without scriptSigs or witnesses.
  constructor(tx, global, inputs, outputs) {
    this.tx = tx;
    this.global = global;
    this.inputs = inputs;
    this.outputs = outputs;
  }

  static fromTx(tx) {
    return new Psbt(tx, [], tx.inputs.map(() => []), tx.outputs.map(() => []));
  }

  static fromBase64(text) {
    if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0)
      throw decodeError('invalid base64');
    return Psbt.fromRaw(Buffer.from(text, 'base64'));
  }

  static fromRaw(raw) {
    const r = new Reader(raw);
    if (!r.bytes(MAGIC.length).equals(MAGIC))
      throw decodeError('Invalid PSBT magic bytes');
    const global = readMap(r, 'the global map');
    const version = findRecord(global, GLOBAL_VERSION);
    if (version && (version[1].length !== 4 || version[1].readUInt32LE(0) !== 0))
      throw decodeError('Unsupported version number (the stand-in reads PSBT version 0 only)');
    const unsigned = findRecord(global, GLOBAL_UNSIGNED_TX);
    if (!unsigned || unsigned[0].length !== 1)
      throw decodeError('No unsigned transaction was provided');
    const tx = decodeTxRaw(unsigned[1]);
    if (!tx || !tx.inputs.every(i => i.script.raw.length === 0 && i.witness.items.length === 0))
      throw decodeError('Unsigned tx does not have empty scriptSigs and scriptWitnesses.');
    removeRecords(global, [GLOBAL_UNSIGNED_TX]);
    const inputs = tx.inputs.map(() => readMap(r, 'an input map'));
    const outputs = tx.outputs.map(() => readMap(r, 'an output map'));
    if (r.pos !== raw.length)
      throw decodeError('Data after the PSBT');
    const psbt = new Psbt(tx, global, inputs, outputs);
    inputs.forEach((_, i) => psbt.witnessUtxo(i)); // validates the record's shape
    return psbt;
  }

  toRaw() {
    const global = [[Buffer.from([GLOBAL_UNSIGNED_TX]), this.tx.toNormal()], ...this.global];
    return Buffer.concat([MAGIC, writeMap(global), ...this.inputs.map(writeMap), ...this.outputs.map(writeMap)]);
  }

  toBase64() {
    return this.toRaw().toString('base64');
  }

  // { value, script } or null.
  witnessUtxo(i) {
    const record = findRecord(this.inputs[i], IN_WITNESS_UTXO);
    if (!record)
      return null;
    const r = new Reader(record[1]);
    const value = Number(r.bytes(8).readBigUInt64LE(0));
    const script = r.varbytes();
    if (record[0].length !== 1 || r.pos !== record[1].length)
      throw decodeError('Size of value was not the stated size');
    return { value, script };
  }

  setWitnessUtxo(i, value, script) {
    const amount = Buffer.alloc(8);
    amount.writeBigUInt64LE(BigInt(value));
    setRecord(this.inputs[i], IN_WITNESS_UTXO, Buffer.concat([amount, varbytes(script)]));
  }

  // [{ pubkey, signature }]
  partialSigs(i) {
    return this.inputs[i]
      .filter(([key]) => key[0] === IN_PARTIAL_SIG)
      .map(([key, value]) => ({ pubkey: key.subarray(1), signature: value }));
  }

  addPartialSig(i, pubkey, signature) {
    const key = Buffer.concat([Buffer.from([IN_PARTIAL_SIG]), pubkey]);
    const map = this.inputs[i];
    const at = map.findIndex(([k]) => k.equals(key));
    if (at >= 0) map.splice(at, 1);
    map.push([key, signature]);
  }

  finalWitness(i) {
    const record = findRecord(this.inputs[i], IN_FINAL_SCRIPTWITNESS);
    return record ? decodeStack(record[1]) : null;
  }

  isFinal(i) {
    return Boolean(findRecord(this.inputs[i], IN_FINAL_SCRIPTWITNESS) || findRecord(this.inputs[i], IN_FINAL_SCRIPTSIG));
  }

  finalize(i, witnessItems) {
    removeRecords(this.inputs[i], CLEARED_ON_FINALIZE);
    setRecord(this.inputs[i], IN_FINAL_SCRIPTWITNESS, encodeStack(witnessItems));
  }

  // The network transaction, once every input is final.
  extract() {
    const tx = this.tx.clone();
    tx.inputs.forEach((input, i) => {
      const scriptSig = findRecord(this.inputs[i], IN_FINAL_SCRIPTSIG);
      if (scriptSig)
        input.script = Script.fromRaw(scriptSig[1]);
      const witness = this.finalWitness(i);
      if (witness)
        input.witness = Witness.fromItems(witness);
    });
    tx.refresh();
    return tx;
  }

  // The final witness of a P2WPKH input whose partial signature is present, else null.
  p2wpkhWitness(i) {
    const utxo = this.witnessUtxo(i);
    const hash = utxo ? Script.fromRaw(utxo.script).getWitnessPubkeyhash() : null;
    if (!hash) return null;
    const sig = this.partialSigs(i).find(s => hash160(s.pubkey).equals(hash));
    return sig ? [sig.signature, sig.pubkey] : null;
  }

  // Finalizes what can be; true when every input is final.
  finalizeAll() {
    let complete = true;
    this.tx.inputs.forEach((_, i) => {
      if (this.isFinal(i)) return;
      const witness = this.p2wpkhWitness(i);
      if (witness) this.finalize(i, witness);
      else complete = false;
    });
    return complete;
  }
}

module.exports = { Psbt };
