'use strict';

// Control, network and utility methods.

const { amount } = require('../json');
const { toScript, classify } = require('../address');
const { isMissing, str } = require('./params');

const VERSION = 270000;
const SUBVERSION = '/bcoin-standin:0.1.0/';

module.exports = function register(def, methods) {
  def('help', ['command'], async ({ server }, [command]) => {
    if (!isMissing(command)) {
      const m = methods[str(command)];
      if (!m) return `help: unknown command: ${command}`;
      return `${command} ${m.params.map(p => `( "${p}" )`).join(' ')}`.trim();
    }
    return Object.keys(methods).sort().map(n => `${n} ${methods[n].params.join(' ')}`.trim()).join('\n');
  });

  def('stop', ['wait'], async ({ server }) => {
    server.requestShutdown();
    return 'Bitcoin Core stopping';
  });

  def('uptime', [], async ({ node }) => Math.floor((Date.now() - node.startTime) / 1000));

  def('ping', [], async () => null);

  def('getnetworkinfo', [], async () => ({
    version: VERSION,
    subversion: SUBVERSION,
    protocolversion: 70016,
    localservices: '0000000000000409',
    localservicesnames: ['NETWORK', 'WITNESS', 'NETWORK_LIMITED'],
    localrelay: true,
    timeoffset: 0,
    networkactive: true,
    connections: 0,
    connections_in: 0,
    connections_out: 0,
    networks: [],
    relayfee: amount(1000),
    incrementalfee: amount(1000),
    localaddresses: [],
    warnings: ''
  }));

  def('getconnectioncount', [], async () => 0);
  def('getpeerinfo', [], async () => []);
  def('getindexinfo', ['index_name'], async ({ node }, [name]) => {
    if (!isMissing(name) && str(name) !== 'txindex') return {};
    return { txindex: { synced: true, best_block_height: node.chain.height } };
  });

  def('getzmqnotifications', [], async ({ node }) => node.zmq.describe());

  def('validateaddress', ['address'], async (ctx, [address]) => {
    const script = toScript(str(address));
    if (!script) return { isvalid: false, error: 'Invalid address' };
    const info = classify(script);
    const out = { isvalid: true, address: info.address, scriptPubKey: script.toString('hex'), isscript: info.type === 'scripthash' || info.type === 'witness_v0_scripthash', iswitness: info.type.startsWith('witness') || info.type === 'anchor' };
    if (out.iswitness) {
      out.witness_version = script[0] === 0 ? 0 : script[0] - 0x50;
      out.witness_program = script.subarray(2).toString('hex');
    }
    return out;
  });
};
