'use strict';

// Turns bcoin's "regtest" into Bitcoin Core's regtest. Must run before any
// bcoin object asks for the regtest network: bcoin builds its Network
// object once, from these plain parameters, on first use.

const networks = require('bcoin/lib/protocol/networks');
const Network = require('bcoin/lib/protocol/network');
const Chain = require('bcoin/lib/blockchain/chain');
const common = require('bcoin/lib/blockchain/common');
const Script = require('bcoin/lib/script/script');

const CORE_REGTEST_GENESIS = '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206';

function reverseHex(hex) {
  return Buffer.from(hex, 'hex').reverse().toString('hex');
}

function patchRegtest() {
  const regtest = networks.regtest;

  // bcoin stores hashes in internal byte order; Core displays them reversed.
  // Both describe the same genesis block; refuse to run if that ever changes.
  if (reverseHex(regtest.genesis.hash) !== CORE_REGTEST_GENESIS)
    throw new Error('bcoin regtest genesis differs from Core regtest genesis');

  regtest.port = 18444;
  regtest.rpcPort = 18443;
  regtest.walletPort = 18443;
  regtest.seeds = [];
  regtest.halvingInterval = 150;

  // Core regtest: BIP34/65/66 buried at height 1 (CRegTestParams).
  regtest.block.bip34height = 1;
  regtest.block.bip65height = 1;
  regtest.block.bip66height = 1;

  // Core regtest: CSV at height 1, segwit from genesis. bcoin only knows
  // them as BIP9 deployments, so mark them always active (see getState below).
  regtest.deployments.csv.sideboltAlwaysActive = true;
  regtest.deployments.segwit.sideboltAlwaysActive = true;
  regtest.deployments.segsignal.startTime = 0xffffffff;
  regtest.deployments.testdummy.force = false;

  // Core regtest key and address prefixes (chainparams: 111, 196, 239, tpub/tprv, bcrt).
  regtest.keyPrefix = {
    privkey: 0xef,
    xpubkey: 0x043587cf,
    xprivkey: 0x04358394,
    xpubkey58: 'tpub',
    xprivkey58: 'tprv',
    coinType: 1
  };
  regtest.addressPrefix = {
    pubkeyhash: 0x6f,
    scripthash: 0xc4,
    witnesspubkeyhash: 0x03,
    witnessscripthash: 0x28,
    bech32: 'bcrt'
  };

  // Core's regtest relays only standard transactions by default.
  regtest.requireStandard = true;
  regtest.minRelay = 1000;

  // Core's consensus-mandatory script flags (policy.h MANDATORY_SCRIPT_VERIFY_FLAGS):
  // a failure under these is "mandatory-script-verify-flag-failed", not a
  // policy-only failure. bcoin's list has P2SH alone.
  const f = Script.flags;
  const coreMandatory = f.VERIFY_P2SH | f.VERIFY_DERSIG | f.VERIFY_NULLDUMMY
    | f.VERIFY_CHECKLOCKTIMEVERIFY | f.VERIFY_CHECKSEQUENCEVERIFY | f.VERIFY_WITNESS;
  f.ONLY_STANDARD_VERIFY_FLAGS = f.STANDARD_VERIFY_FLAGS & ~coreMandatory;

  const originalGetState = Chain.prototype.getState;
  Chain.prototype.getState = async function getState(prev, deployment) {
    if (deployment.sideboltAlwaysActive)
      return common.thresholdStates.ACTIVE;
    return originalGetState.call(this, prev, deployment);
  };

  return Network.set('regtest');
}

module.exports = { patchRegtest, reverseHex };
