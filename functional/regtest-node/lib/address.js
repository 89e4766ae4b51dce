'use strict';

// Core regtest addresses <-> output scripts: base58check (P2PKH 111, P2SH 196)
// and segwit (BIP173 bech32 for v0, BIP350 bech32m for v1+, HRP "bcrt").
// bcoin 1.0.2 predates bech32m, so the stand-in does its own encoding.

const crypto = require('crypto');

const HRP = 'bcrt';
const P2PKH_PREFIX = 111;
const P2SH_PREFIX = 196;
const BECH32_CONST = 1;
const BECH32M_CONST = 0x2bc830a3;
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function sha256d(data) {
  const once = crypto.createHash('sha256').update(data).digest();
  return crypto.createHash('sha256').update(once).digest();
}

function polymod(values) {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) {
      if ((top >>> i) & 1)
        chk ^= gen[i];
    }
  }
  return chk >>> 0;
}

function hrpExpand(hrp) {
  const out = [];
  for (const c of hrp) out.push(c.charCodeAt(0) >> 5);
  out.push(0);
  for (const c of hrp) out.push(c.charCodeAt(0) & 31);
  return out;
}

function convertBits(data, from, to, pad) {
  let acc = 0;
  let bits = 0;
  const out = [];
  const maxv = (1 << to) - 1;
  for (const value of data) {
    if (value >> from)
      return null;
    acc = (acc << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & maxv);
    }
  }
  if (pad) {
    if (bits > 0)
      out.push((acc << (to - bits)) & maxv);
  } else if (bits >= from || ((acc << (to - bits)) & maxv)) {
    return null;
  }
  return out;
}

function segwitEncode(version, program) {
  const data = [version].concat(convertBits(program, 8, 5, true));
  const constant = version === 0 ? BECH32_CONST : BECH32M_CONST;
  const mod = polymod(hrpExpand(HRP).concat(data, [0, 0, 0, 0, 0, 0])) ^ constant;
  const checksum = [];
  for (let i = 0; i < 6; i++)
    checksum.push((mod >>> (5 * (5 - i))) & 31);
  return HRP + '1' + data.concat(checksum).map(v => CHARSET[v]).join('');
}

function segwitDecode(addr) {
  if (addr.length > 90 || (addr !== addr.toLowerCase() && addr !== addr.toUpperCase()))
    return null;
  const lower = addr.toLowerCase();
  const sep = lower.lastIndexOf('1');
  if (sep < 1 || sep + 7 > lower.length || lower.slice(0, sep) !== HRP)
    return null;
  const data = [];
  for (const c of lower.slice(sep + 1)) {
    const v = CHARSET.indexOf(c);
    if (v === -1)
      return null;
    data.push(v);
  }
  const check = polymod(hrpExpand(HRP).concat(data));
  const version = data[0];
  if (version > 16)
    return null;
  const expected = version === 0 ? BECH32_CONST : BECH32M_CONST;
  if (check !== expected)
    return null;
  const program = convertBits(data.slice(1, -6), 5, 8, false);
  if (!program || program.length < 2 || program.length > 40)
    return null;
  if (version === 0 && program.length !== 20 && program.length !== 32)
    return null;
  return { version, program: Buffer.from(program) };
}

function base58Encode(buf) {
  let n = BigInt('0x' + (buf.length ? buf.toString('hex') : '0'));
  let out = '';
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const byte of buf) {
    if (byte !== 0)
      break;
    out = '1' + out;
  }
  return out;
}

function base58Decode(str) {
  let n = 0n;
  for (const c of str) {
    const v = BASE58.indexOf(c);
    if (v === -1)
      return null;
    n = n * 58n + BigInt(v);
  }
  let hex = n === 0n ? '' : n.toString(16);
  if (hex.length % 2)
    hex = '0' + hex;
  let zeros = 0;
  while (zeros < str.length && str[zeros] === '1')
    zeros++;
  return Buffer.concat([Buffer.alloc(zeros), Buffer.from(hex, 'hex')]);
}

function base58CheckEncode(prefix, payload) {
  const body = Buffer.concat([Buffer.from([prefix]), payload]);
  return base58Encode(Buffer.concat([body, sha256d(body).subarray(0, 4)]));
}

function base58CheckDecode(str) {
  const raw = base58Decode(str);
  if (!raw || raw.length < 5)
    return null;
  const body = raw.subarray(0, raw.length - 4);
  if (!sha256d(body).subarray(0, 4).equals(raw.subarray(raw.length - 4)))
    return null;
  return { prefix: body[0], payload: body.subarray(1) };
}

// Returns the output script for a regtest address, or null if invalid.
function toScript(addr) {
  if (typeof addr !== 'string')
    return null;
  const segwit = segwitDecode(addr);
  if (segwit) {
    const versionOp = segwit.version === 0 ? 0x00 : 0x50 + segwit.version;
    return Buffer.concat([Buffer.from([versionOp, segwit.program.length]), segwit.program]);
  }
  const b58 = base58CheckDecode(addr);
  if (!b58 || b58.payload.length !== 20)
    return null;
  if (b58.prefix === P2PKH_PREFIX)
    return Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), b58.payload, Buffer.from([0x88, 0xac])]);
  if (b58.prefix === P2SH_PREFIX)
    return Buffer.concat([Buffer.from([0xa9, 0x14]), b58.payload, Buffer.from([0x87])]);
  return null;
}

// Classifies an output script like Core's Solver/GetTxnOutputType.
function classify(script) {
  const s = script;
  const n = s.length;
  if (n === 25 && s[0] === 0x76 && s[1] === 0xa9 && s[2] === 0x14 && s[23] === 0x88 && s[24] === 0xac)
    return { type: 'pubkeyhash', address: base58CheckEncode(P2PKH_PREFIX, s.subarray(3, 23)) };
  if (n === 23 && s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87)
    return { type: 'scripthash', address: base58CheckEncode(P2SH_PREFIX, s.subarray(2, 22)) };
  const isVersionOp = op => op === 0x00 || (op >= 0x51 && op <= 0x60);
  if (n >= 4 && n <= 42 && isVersionOp(s[0]) && s[1] === n - 2) {
    const version = s[0] === 0 ? 0 : s[0] - 0x50;
    const program = s.subarray(2);
    if (version === 0 && program.length === 20)
      return { type: 'witness_v0_keyhash', address: segwitEncode(0, program) };
    if (version === 0 && program.length === 32)
      return { type: 'witness_v0_scripthash', address: segwitEncode(0, program) };
    if (version === 1 && program.length === 32)
      return { type: 'witness_v1_taproot', address: segwitEncode(1, program) };
    if (version === 1 && program.length === 2 && program[0] === 0x4e && program[1] === 0x73)
      return { type: 'anchor', address: segwitEncode(1, program) };
    if (version !== 0)
      return { type: 'witness_unknown', address: segwitEncode(version, program) };
    return { type: 'nonstandard' };
  }
  if (n >= 1 && s[0] === 0x6a)
    return { type: 'nulldata' };
  if ((n === 35 && s[0] === 33 && s[34] === 0xac) || (n === 67 && s[0] === 65 && s[66] === 0xac))
    return { type: 'pubkey' };
  if (n >= 37 && s[n - 1] === 0xae && s[0] >= 0x51 && s[0] <= 0x60)
    return { type: 'multisig' };
  return { type: 'nonstandard' };
}

module.exports = { toScript, classify, segwitEncode, segwitDecode, base58CheckEncode, HRP };
