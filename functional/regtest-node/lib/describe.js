'use strict';

// Core-shaped JSON for scripts, transactions, headers and blocks
// (ScriptToUniv / TxToUniv / blockheaderToJSON in Core's RPC code).

const { opcodesByVal } = require('bcoin/lib/script/common');
const { amount } = require('./json');
const { classify } = require('./address');
const { reverseHex } = require('./consensus');

const SIGHASH_NAMES = { 1: 'ALL', 2: 'NONE', 3: 'SINGLE', 0x81: 'ALL|ANYONECANPAY', 0x82: 'NONE|ANYONECANPAY', 0x83: 'SINGLE|ANYONECANPAY' };

function opName(op) {
  if (op === 0x00) return '0';
  if (op === 0x4f) return '-1';
  if (op >= 0x51 && op <= 0x60) return String(op - 0x50);
  if (op === 0xb1) return 'OP_CHECKLOCKTIMEVERIFY';
  if (op === 0xb2) return 'OP_CHECKSEQUENCEVERIFY';
  return opcodesByVal[op] || 'OP_UNKNOWN';
}

function scriptNumText(data) {
  if (data.length === 0) return '0';
  let value = 0n;
  for (let i = 0; i < data.length; i++)
    value |= BigInt(data[i]) << BigInt(8 * i);
  const signBit = 0x80n << BigInt(8 * (data.length - 1));
  if (value & signBit)
    value = -(value & ~signBit);
  return value.toString();
}

function looksLikeDerSignature(data) {
  return data.length >= 9 && data.length <= 73 && data[0] === 0x30 && data[1] === data.length - 3;
}

// Core's ScriptToAsmStr; sighash decoding applies to input scripts only.
function scriptToAsm(script, decodeSighash = false) {
  const parts = [];
  let pos = 0;
  while (pos < script.length) {
    const op = script[pos++];
    if (op >= 0x01 && op <= 0x4e) {
      let len = op;
      let header = 0;
      if (op === 0x4c) header = 1;
      else if (op === 0x4d) header = 2;
      else if (op === 0x4e) header = 4;
      if (header) {
        if (pos + header > script.length) { parts.push('[error]'); break; }
        len = header === 1 ? script[pos] : header === 2 ? script.readUInt16LE(pos) : script.readUInt32LE(pos);
        pos += header;
      }
      if (pos + len > script.length) { parts.push('[error]'); break; }
      const data = script.subarray(pos, pos + len);
      pos += len;
      if (data.length <= 4) {
        parts.push(scriptNumText(data));
      } else if (decodeSighash && looksLikeDerSignature(data) && SIGHASH_NAMES[data[data.length - 1]]) {
        parts.push(data.subarray(0, -1).toString('hex') + `[${SIGHASH_NAMES[data[data.length - 1]]}]`);
      } else {
        parts.push(data.toString('hex'));
      }
    } else {
      parts.push(opName(op));
    }
  }
  return parts.join(' ');
}

function scriptPubKeyJson(scriptBuf) {
  const info = classify(scriptBuf);
  const out = { asm: scriptToAsm(scriptBuf), hex: scriptBuf.toString('hex') };
  if (info.address)
    out.address = info.address;
  out.type = info.type;
  return out;
}

// `extra` may carry fee (satoshis) and block context fields.
function txJson(tx, extra = {}) {
  const json = {
    txid: tx.txid(),
    hash: tx.wtxid(),
    version: tx.version | 0,
    size: tx.getSize(),
    vsize: tx.getVirtualSize(),
    weight: tx.getWeight(),
    locktime: tx.locktime,
    vin: tx.inputs.map((input) => {
      const script = input.script.toRaw();
      const witness = input.witness.items.map(item => item.toString('hex'));
      const vin = {};
      if (tx.isCoinbase()) {
        vin.coinbase = script.toString('hex');
      } else {
        vin.txid = reverseHex(input.prevout.hash);
        vin.vout = input.prevout.index;
        vin.scriptSig = { asm: scriptToAsm(script, true), hex: script.toString('hex') };
      }
      if (witness.length)
        vin.txinwitness = witness;
      vin.sequence = input.sequence;
      return vin;
    }),
    vout: tx.outputs.map((output, n) => ({
      value: amount(output.value),
      n,
      scriptPubKey: scriptPubKeyJson(output.script.toRaw())
    }))
  };
  if (extra.fee !== undefined && !tx.isCoinbase())
    json.fee = amount(extra.fee);
  return json;
}

function difficulty(bits) {
  let shift = (bits >>> 24) & 0xff;
  let diff = 0x0000ffff / (bits & 0x00ffffff);
  while (shift < 29) { diff *= 256.0; shift++; }
  while (shift > 29) { diff /= 256.0; shift--; }
  return diff;
}

function hex32(n) {
  return (n >>> 0).toString(16).padStart(8, '0');
}

// ctx: { confirmations, mediantime, nTx, next (display hash or null) }
function headerJson(entry, ctx) {
  const json = {
    hash: entry.rhash(),
    confirmations: ctx.confirmations,
    height: entry.height,
    version: entry.version | 0,
    versionHex: hex32(entry.version),
    merkleroot: reverseHex(entry.merkleRoot),
    time: entry.time,
    mediantime: ctx.mediantime,
    nonce: entry.nonce >>> 0,
    bits: hex32(entry.bits),
    difficulty: difficulty(entry.bits),
    chainwork: entry.chainwork.toString('hex', 64),
    nTx: ctx.nTx
  };
  if (entry.height > 0)
    json.previousblockhash = reverseHex(entry.prevBlock);
  if (ctx.next)
    json.nextblockhash = ctx.next;
  return json;
}

module.exports = { scriptToAsm, scriptPubKeyJson, txJson, headerJson, difficulty };
