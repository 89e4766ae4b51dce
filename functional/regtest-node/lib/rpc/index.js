'use strict';

// Core-compatible RPC methods. Each entry: params (names, for positional
// and named calls), an optional `wallet` flag (the method runs against the
// wallet selected by the request URI) and the handler(ctx, args).

const methods = {};

function def(name, params, handler, opts = {}) {
  methods[name] = { params, handler, wallet: Boolean(opts.wallet) };
}

for (const register of [require('./control'), require('./blockchain'), require('./rawtx'), require('./psbt'), require('./wallet')])
  register(def, methods);

module.exports = { methods };
