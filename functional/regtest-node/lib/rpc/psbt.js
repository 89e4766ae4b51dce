'use strict';

// PSBT methods that need no wallet (Core's rawtransaction.cpp).

const { amount } = require('../json');
const { Psbt } = require('../psbt');
const { txJson, scriptPubKeyJson } = require('../describe');
const { bool, str } = require('./params');

function inputJson(psbt, i) {
  const json = {};
  const utxo = psbt.witnessUtxo(i);
  if (utxo) json.witness_utxo = { amount: amount(utxo.value), scriptPubKey: scriptPubKeyJson(utxo.script) };
  const sigs = psbt.partialSigs(i);
  if (sigs.length) {
    json.partial_signatures = {};
    for (const s of sigs) json.partial_signatures[s.pubkey.toString('hex')] = s.signature.toString('hex');
  }
  const witness = psbt.finalWitness(i);
  if (witness) json.final_scriptwitness = witness.map(w => w.toString('hex'));
  return json;
}

module.exports = function register(def) {
  def('finalizepsbt', ['psbt', 'extract'], async (ctx, [text, extract]) => {
    const psbt = Psbt.fromBase64(str(text));
    const complete = psbt.finalizeAll();
    if (complete && bool(extract, true))
      return { hex: psbt.extract().toRaw().toString('hex'), complete };
    return { psbt: psbt.toBase64(), complete };
  });

  // Version 0 shape; "fee" only when every input's amount is known.
  def('decodepsbt', ['psbt'], async (ctx, [text]) => {
    const psbt = Psbt.fromBase64(str(text));
    const inputs = psbt.tx.inputs.map((_, i) => inputJson(psbt, i));
    const result = {
      tx: txJson(psbt.tx),
      global_xpubs: [],
      psbt_version: 0,
      proprietary: [],
      unknown: {},
      inputs,
      outputs: psbt.tx.outputs.map(() => ({}))
    };
    const values = psbt.tx.inputs.map((_, i) => psbt.witnessUtxo(i));
    if (values.every(Boolean))
      result.fee = amount(values.reduce((n, u) => n + u.value, 0) - psbt.tx.getOutputValue());
    return result;
  });
};
