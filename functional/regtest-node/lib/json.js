'use strict';

const { codes, RpcError } = require('./errors');

const COIN = 100000000;

// A BTC amount held in satoshis; serialized like Core's ValueFromAmount
// (fixed 8 decimals, as a JSON number).
class Amount {
  constructor(sats) {
    if (!Number.isSafeInteger(sats))
      throw new Error(`bad amount ${sats}`);
    this.sats = sats;
  }

  toJSONText() {
    const negative = this.sats < 0;
    const abs = Math.abs(this.sats);
    const whole = Math.floor(abs / COIN);
    const frac = String(abs % COIN).padStart(8, '0');
    return `${negative ? '-' : ''}${whole}.${frac}`;
  }

  toJSON() {
    return this.sats / COIN;
  }
}

function amount(sats) {
  return new Amount(sats);
}

// Fee rate in BTC/kvB from a fee and a virtual size.
function feeRatePerKvB(feeSats, vsize) {
  return new Amount(Math.floor((feeSats * 1000) / vsize));
}

function stringify(value) {
  if (value instanceof Amount)
    return value.toJSONText();
  if (Array.isArray(value))
    return '[' + value.map(v => (v === undefined ? 'null' : stringify(v))).join(',') + ']';
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const parts = [];
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined)
        continue;
      parts.push(JSON.stringify(k) + ':' + stringify(v));
    }
    return '{' + parts.join(',') + '}';
  }
  const text = JSON.stringify(value);
  return text === undefined ? 'null' : text;
}

// Parses a user-supplied BTC amount (number or decimal string) into satoshis,
// rejecting more than 8 decimals the way Core's AmountFromValue does.
function parseAmount(value, allowNegative = false) {
  let text;
  if (typeof value === 'number')
    text = value.toFixed(12).replace(/0+$/, '').replace(/\.$/, '');
  else if (typeof value === 'string')
    text = value.trim();
  else
    throw new RpcError(codes.TYPE_ERROR, 'Amount is not a number or string');
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m)
    throw new RpcError(codes.TYPE_ERROR, 'Invalid amount');
  const frac = (m[3] || '').replace(/0+$/, '');
  if (frac.length > 8)
    throw new RpcError(codes.TYPE_ERROR, 'Invalid amount');
  const sats = Number(m[2]) * COIN + Number(frac.padEnd(8, '0') || '0');
  if (!Number.isSafeInteger(sats) || sats > 21e6 * COIN)
    throw new RpcError(codes.TYPE_ERROR, 'Amount out of range');
  if (m[1] && !allowNegative)
    throw new RpcError(codes.TYPE_ERROR, 'Amount out of range');
  return m[1] ? -sats : sats;
}

module.exports = { Amount, amount, feeRatePerKvB, stringify, parseAmount, COIN };
