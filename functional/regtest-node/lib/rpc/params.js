'use strict';

// Argument parsing with Core's error codes, plus lookups shared by methods.

const { codes, RpcError } = require('../errors');
const { parseAmount } = require('../json');
const { toScript } = require('../address');
const { reverseHex } = require('../consensus');

function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

function typeError(v, expected) {
  return new RpcError(codes.TYPE_ERROR, `JSON value of type ${typeName(v)} is not of expected type ${expected}`);
}

function isMissing(v) {
  return v === undefined || v === null;
}

function int(v, def) {
  if (isMissing(v)) {
    if (def === undefined) throw new RpcError(codes.MISC_ERROR, 'Missing required argument');
    return def;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(v, 'number');
  return v;
}

function bool(v, def) {
  if (isMissing(v)) return def;
  if (typeof v !== 'boolean') throw typeError(v, 'bool');
  return v;
}

function str(v, def) {
  if (isMissing(v)) {
    if (def === undefined) throw new RpcError(codes.MISC_ERROR, 'Missing required argument');
    return def;
  }
  if (typeof v !== 'string') throw typeError(v, 'string');
  return v;
}

// A display-order 32-byte hash -> bcoin's internal hex.
function hash256(v, name) {
  const s = str(v);
  if (!/^[0-9a-fA-F]{64}$/.test(s))
    throw new RpcError(codes.INVALID_PARAMETER, `${name} must be of length 64 (not ${s.length}, for '${s}')`);
  return reverseHex(s.toLowerCase());
}

// int or bool verbosity (Core accepts both for getblock/getrawtransaction).
function verbosity(v, def) {
  if (isMissing(v)) return def;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return int(v);
}

function feeRateSatPerKvB(v, def) {
  if (isMissing(v)) return def;
  return parseAmount(v);
}

function scriptFromAddress(v) {
  const script = toScript(str(v));
  if (!script)
    throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'Invalid address');
  return script;
}

const SIGHASH_TYPES = {
  DEFAULT: 1, ALL: 1, NONE: 2, SINGLE: 3,
  'ALL|ANYONECANPAY': 0x81, 'NONE|ANYONECANPAY': 0x82, 'SINGLE|ANYONECANPAY': 0x83
};

async function entryByHash(node, displayHash) {
  const entry = await node.chain.getEntry(hash256(displayHash, 'blockhash'));
  if (!entry)
    throw new RpcError(codes.INVALID_ADDRESS_OR_KEY, 'Block not found');
  return entry;
}

async function coinForInput(node, prevout) {
  const mempoolTx = node.mempool.getTX(prevout.hash);
  if (mempoolTx)
    return prevout.index < mempoolTx.outputs.length ? node.mempool.getCoin(prevout.hash, prevout.index) : null;
  return node.chain.getCoin(prevout.hash, prevout.index);
}

module.exports = {
  isMissing, typeError, int, bool, str, hash256, verbosity, feeRateSatPerKvB, scriptFromAddress,
  SIGHASH_TYPES, entryByHash, coinForInput
};
