'use strict';

// Transaction and block decoding with Core's rules (core_read.cpp): try the
// witness serialization first, fall back to the legacy one, prefer whichever
// parses completely with sane scripts. This matters for zero-input
// transactions (fundrawtransaction input), whose legacy bytes look like a
// witness marker to a naive parser.

const TX = require('bcoin/lib/primitives/tx');
const Input = require('bcoin/lib/primitives/input');
const Output = require('bcoin/lib/primitives/output');
const Outpoint = require('bcoin/lib/primitives/outpoint');
const Block = require('bcoin/lib/primitives/block');
const Script = require('bcoin/lib/script/script');
const Witness = require('bcoin/lib/script/witness');
const { codes, RpcError } = require('./errors');

const MAX_SCRIPT_SIZE = 10000;
const MAX_OPCODE = 0xb9; // OP_NOP10

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.buf.length)
      throw new Error('eof');
  }

  u8() {
    this.need(1);
    return this.buf[this.pos++];
  }

  u32() {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64() {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new Error('value too large');
    return Number(v);
  }

  varint() {
    const first = this.u8();
    if (first < 0xfd)
      return first;
    if (first === 0xfd) {
      this.need(2);
      const v = this.buf.readUInt16LE(this.pos);
      this.pos += 2;
      return v;
    }
    if (first === 0xfe)
      return this.u32();
    const v = this.u64();
    if (v > 0x02000000)
      throw new Error('size too large');
    return v;
  }

  bytes(n) {
    if (n > 0x02000000)
      throw new Error('size too large');
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return Buffer.from(out);
  }

  done() {
    return this.pos === this.buf.length;
  }
}

function readInputs(r) {
  const count = r.varint();
  const inputs = [];
  for (let i = 0; i < count; i++) {
    const hash = r.bytes(32).toString('hex');
    const index = r.u32();
    const script = r.bytes(r.varint());
    const sequence = r.u32();
    inputs.push({ hash, index, script, sequence, witness: [] });
  }
  return inputs;
}

function readOutputs(r) {
  const count = r.varint();
  const outputs = [];
  for (let i = 0; i < count; i++) {
    const value = r.u64();
    outputs.push({ value, script: r.bytes(r.varint()) });
  }
  return outputs;
}

// Parses one transaction from the reader; `witness` selects Core's
// TX_WITH_WITNESS (true) or TX_NO_WITNESS (false) serialization.
function readTx(r, witness) {
  const version = r.u32();
  let inputs = readInputs(r);
  let outputs;
  let flags = 0;
  if (inputs.length === 0 && witness) {
    flags = r.u8();
    if (flags !== 0) {
      inputs = readInputs(r);
      outputs = readOutputs(r);
    }
  } else {
    outputs = readOutputs(r);
  }
  if (outputs === undefined)
    outputs = [];
  if (flags & 1) {
    flags ^= 1;
    let any = false;
    for (const input of inputs) {
      const n = r.varint();
      for (let i = 0; i < n; i++)
        input.witness.push(r.bytes(r.varint()));
      if (n > 0)
        any = true;
    }
    if (!any)
      throw new Error('superfluous witness record');
  }
  if (flags)
    throw new Error('unknown optional data');
  const locktime = r.u32();
  return { version, inputs, outputs, locktime };
}

function scriptHasValidOps(script) {
  if (script.length > MAX_SCRIPT_SIZE)
    return false;
  let pos = 0;
  while (pos < script.length) {
    const op = script[pos++];
    let len = 0;
    if (op >= 0x01 && op <= 0x4b) {
      len = op;
    } else if (op === 0x4c) {
      if (pos + 1 > script.length) return false;
      len = script[pos];
      pos += 1;
    } else if (op === 0x4d) {
      if (pos + 2 > script.length) return false;
      len = script.readUInt16LE(pos);
      pos += 2;
    } else if (op === 0x4e) {
      if (pos + 4 > script.length) return false;
      len = script.readUInt32LE(pos);
      pos += 4;
    } else if (op > MAX_OPCODE) {
      return false;
    }
    if (pos + len > script.length)
      return false;
    pos += len;
  }
  return true;
}

function isSane(parsed) {
  return parsed.inputs.every(i => scriptHasValidOps(i.script))
    && parsed.outputs.every(o => scriptHasValidOps(o.script));
}

function toBcoinTx(parsed) {
  const tx = new TX();
  tx.version = parsed.version;
  tx.locktime = parsed.locktime;
  for (const i of parsed.inputs) {
    const input = new Input();
    input.prevout = new Outpoint(i.hash, i.index);
    input.script = Script.fromRaw(i.script);
    input.sequence = i.sequence;
    input.witness = Witness.fromItems(i.witness);
    tx.inputs.push(input);
  }
  for (const o of parsed.outputs) {
    const output = new Output();
    output.value = o.value;
    output.script = Script.fromRaw(o.script);
    tx.outputs.push(output);
  }
  tx.refresh();
  return tx;
}

function tryParse(raw, witness) {
  try {
    const r = new Reader(raw);
    const parsed = readTx(r, witness);
    return r.done() ? parsed : null;
  } catch (e) {
    return null;
  }
}

// Returns a bcoin TX or null, following Core's DecodeTx preference order.
function decodeTxRaw(raw) {
  const extended = tryParse(raw, true);
  if (extended && isSane(extended))
    return toBcoinTx(extended);
  const legacy = tryParse(raw, false);
  if (legacy && isSane(legacy))
    return toBcoinTx(legacy);
  if (extended)
    return toBcoinTx(extended);
  if (legacy)
    return toBcoinTx(legacy);
  return null;
}

function parseHex(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex))
    return null;
  return Buffer.from(hex, 'hex');
}

// Decodes a hex transaction or throws Core's -22.
function decodeTx(hex) {
  const raw = parseHex(hex);
  const tx = raw ? decodeTxRaw(raw) : null;
  if (!tx)
    throw new RpcError(codes.DESERIALIZATION_ERROR, 'TX decode failed. Make sure the tx has at least one input.');
  return tx;
}

function decodeBlock(hex) {
  const raw = parseHex(hex);
  if (raw) {
    try {
      const block = Block.fromRaw(raw);
      if (block.toRaw().equals(raw))
        return block;
    } catch (e) {
      // fall through to the error below
    }
  }
  throw new RpcError(codes.DESERIALIZATION_ERROR, 'Block decode failed');
}

module.exports = { decodeTx, decodeTxRaw, decodeBlock, parseHex };
