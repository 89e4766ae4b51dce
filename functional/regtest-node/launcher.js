#!/usr/bin/env node
'use strict';

// bitcoind-compatible regtest stand-in for sidebolt's functional tests.
//
//   node launcher.js -datadir=DIR -rpcport=N [-port=N] [-rpcuser=U -rpcpassword=P]
//                    [-zmqpubrawblock=ADDR] [-zmqpubrawtx=ADDR] [-zmqpubhashblock=ADDR]
//                    [-zmqpubhashtx=ADDR] [-zmqpubsequence=ADDR] [-wallet=NAME]...
//                    [-nowallet] [-fallbackfee=BTC/kvB] [-debug] [-printtoconsole] [-persist]
//
// Chain state lives in memory: a restarted stand-in starts from genesis,
// unless -persist keeps chain, wallet keys and mempool in DIR/regtest.
// Without -rpcuser it writes DIR/regtest/.cookie ("__cookie__:<hex>") like
// Core and removes it on exit. Prints one "standin ready ..." line on stdout
// once RPC answers.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { patchRegtest } = require('./lib/consensus');

const network = patchRegtest();

const Logger = require('blgr');
const { StandinNode } = require('./lib/node');
const { RpcServer } = require('./lib/server');
const { ZmqPublisher, TOPICS, DEFAULT_HWM } = require('./lib/zmq');
const { parseAmount } = require('./lib/json');
const { Persistence } = require('./lib/persist');

// Options that bitcoind accepts and the stand-in deliberately ignores.
const IGNORED = new Set([
  'regtest', 'server', 'txindex', 'listen', 'listenonion', 'discover', 'dnsseed',
  'upnp', 'natpmp', 'bind', 'rpcbind', 'rpcallowip', 'daemon', 'daemonwait', 'keypool',
  'debugexclude', 'logtimemicros', 'logthreadnames', 'shrinkdebugfile', 'blockfilterindex',
  'peerblockfilters', 'maxconnections', 'connect', 'addnode', 'persistmempool', 'acceptnonstdtxn',
  'rpcthreads', 'rpcworkqueue', 'rpcservertimeout', 'deprecatedrpc', 'blocksonly', 'dbcache',
  'checkblocks', 'checklevel', 'disablewallet', 'walletbroadcast', 'walletrbf', 'unsafesqlitesync',
  'mocktime', 'uacomment', 'fixedseeds', 'maxtxfee', 'minrelaytxfee', 'incrementalrelayfee', 'datacarrier'
]);

function parseArgs(argv) {
  const args = new Map();
  for (const raw of argv) {
    if (!raw.startsWith('-'))
      throw new Error(`unexpected argument: ${raw}`);
    const text = raw.replace(/^--?/, '');
    const eq = text.indexOf('=');
    let name = eq < 0 ? text : text.slice(0, eq);
    let value = eq < 0 ? '1' : text.slice(eq + 1);
    if (name.startsWith('no') && eq < 0 && !args.has(name)) {
      name = name.slice(2);
      value = '0';
    }
    if (!args.has(name))
      args.set(name, []);
    args.get(name).push(value);
  }
  return args;
}

function last(args, name, fallback) {
  const values = args.get(name);
  return values && values.length ? values[values.length - 1] : fallback;
}

function flag(args, name) {
  const v = last(args, name, '0');
  return v !== '0' && v !== 'false';
}

// Core's cookie file: written atomically, readable by the owner only.
function writeCookie(file, user, secret) {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${user}:${secret}`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const known = new Set(['datadir', 'rpcport', 'port', 'rpcuser', 'rpcpassword', 'rpccookiefile', 'wallet',
    'fallbackfee', 'debug', 'printtoconsole', 'persist', 'zmqpubhashblockhwm', 'zmqpubhashtxhwm',
    'zmqpubrawblockhwm', 'zmqpubrawtxhwm', 'zmqpubsequencehwm', ...TOPICS.map(t => `zmqpub${t}`)]);
  for (const name of args.keys()) {
    if (!known.has(name) && !IGNORED.has(name))
      throw new Error(`Error parsing command line arguments: Invalid parameter -${name}`);
  }

  const datadir = path.resolve(last(args, 'datadir', path.join(process.cwd(), 'standin-data')));
  const netdir = path.join(datadir, 'regtest');
  fs.mkdirSync(netdir, { recursive: true });

  const logger = new Logger({
    level: flag(args, 'debug') ? 'debug' : 'info',
    console: flag(args, 'printtoconsole'),
    filename: path.join(netdir, 'debug.log')
  });
  await logger.open();
  const log = logger.context('standin');

  const endpoints = [];
  for (const topic of TOPICS) {
    for (const address of args.get(`zmqpub${topic}`) || [])
      endpoints.push({ topic, address, hwm: Number(last(args, `zmqpub${topic}hwm`, DEFAULT_HWM)) });
  }
  const zmq = new ZmqPublisher(endpoints, log);

  const fallbackFeeRate = parseAmount(last(args, 'fallbackfee', '0.0002'));
  const persistence = flag(args, 'persist') ? new Persistence(netdir) : null;
  const node = new StandinNode({ network, logger: log, zmq, fallbackFeeRate, persistence });
  await node.open();
  await node.restore();

  // Like Core's -wallet=NAME (repeatable) and -nowallet; with neither, the
  // stand-in loads the default wallet "" so plain runs can use wallet RPCs.
  const walletArgs = args.get('wallet');
  const walletNames = walletArgs ? (walletArgs.includes('0') ? [] : walletArgs) : [''];
  for (const name of walletNames)
    await node.wallets.create(name === '1' ? '' : name);

  // Without -rpcuser/-rpcpassword, authenticate with a random cookie like Core.
  const useCookie = !args.has('rpcuser') || !args.has('rpcpassword');
  const cookieFile = useCookie ? path.resolve(netdir, last(args, 'rpccookiefile', '.cookie')) : null;
  const user = useCookie ? '__cookie__' : last(args, 'rpcuser');
  const password = useCookie ? crypto.randomBytes(32).toString('hex') : last(args, 'rpcpassword');

  let stopping = false;
  const rpcPort = Number(last(args, 'rpcport', '18443'));
  const server = new RpcServer({
    node,
    logger: log,
    host: '127.0.0.1',
    port: rpcPort,
    user,
    password,
    onShutdown: () => shutdown(0)
  });

  async function shutdown(code) {
    if (stopping)
      return;
    stopping = true;
    log.info('Shutdown: in progress...');
    try {
      await server.close();
      await zmq.close();
      await node.close();
    } catch (e) {
      log.error(e);
      code = code || 1;
    } finally {
      if (cookieFile) {
        try {
          fs.unlinkSync(cookieFile);
        } catch (e) {
          // already gone
        }
      }
      log.info('Shutdown: done');
      await logger.close();
      process.exit(code);
    }
  }

  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));

  await zmq.open();
  try {
    await server.open();
  } catch (e) {
    throw new Error(`Unable to bind any endpoint for RPC server (port ${rpcPort}): ${e.message}`);
  }
  if (cookieFile)
    writeCookie(cookieFile, user, password);
  log.info('standin ready rpcport=%d datadir=%s', rpcPort, datadir);
  process.stdout.write(`standin ready rpcport=${rpcPort} datadir=${datadir} pid=${process.pid}\n`);
}

main().catch((err) => {
  process.stderr.write(`Error: ${err.message}\n`);
  process.exit(1);
});
