'use strict';

// JSON-RPC 1.0 over HTTP the way bitcoind serves it (httprpc.cpp): POST to
// "/" or "/wallet/<name>", Basic auth, 401 without a body on bad auth,
// HTTP 500 for errors (400 invalid request, 404 method not found), batches
// answered with 200.

const http = require('http');
const crypto = require('crypto');
const { codes, RpcError } = require('./errors');
const { stringify } = require('./json');
const { methods } = require('./rpc/index');

function timingSafeEqualStrings(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function httpStatusFor(code) {
  if (code === codes.INVALID_REQUEST) return 400;
  if (code === codes.METHOD_NOT_FOUND) return 404;
  return 500;
}

class RpcServer {
  constructor({ node, logger, host, port, user, password, onShutdown }) {
    this.node = node;
    this.logger = logger;
    this.host = host;
    this.port = port;
    this.user = user;
    this.password = password;
    this.onShutdown = onShutdown;
    this.server = null;
    this.sockets = new Set();
  }

  open() {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.logger.error(err);
        if (!res.headersSent) {
          res.writeHead(500);
          res.end();
        }
      });
    });
    this.server.keepAliveTimeout = 30000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.removeListener('error', reject);
        resolve();
      });
    });
  }

  close() {
    if (!this.server)
      return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets)
        socket.destroy();
    });
  }

  requestShutdown() {
    setImmediate(() => this.onShutdown());
  }

  authorized(req) {
    const header = req.headers.authorization || '';
    const m = /^Basic\s+(\S+)$/i.exec(header);
    if (!m)
      return false;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    if (sep < 0)
      return false;
    const user = decoded.slice(0, sep);
    const password = decoded.slice(sep + 1);
    // Evaluate both so timing does not reveal which part was wrong.
    const userOk = timingSafeEqualStrings(user, this.user);
    const passOk = timingSafeEqualStrings(password, this.password);
    return userOk && passOk;
  }

  static readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      req.on('data', c => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  async handle(req, res) {
    if (req.method !== 'POST') {
      res.writeHead(405, { 'Content-Type': 'text/plain' });
      res.end('JSONRPC server handles only POST requests');
      return;
    }
    if (!this.authorized(req)) {
      this.logger.warning('ThreadRPCServer incorrect password attempt from %s', req.socket.remoteAddress);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="jsonrpc"' });
      res.end();
      return;
    }
    const path = decodeURIComponent((req.url || '/').split('?')[0]);
    let uriWallet = null;
    if (path.startsWith('/wallet/'))
      uriWallet = path.slice('/wallet/'.length);
    else if (path !== '/' && path !== '')
      return this.reply(res, 404, null);

    const body = await RpcServer.readBody(req);
    let request;
    try {
      request = JSON.parse(body);
    } catch (e) {
      return this.replyError(res, null, new RpcError(codes.PARSE_ERROR, 'Parse error'));
    }

    if (Array.isArray(request)) {
      const replies = [];
      for (const item of request)
        replies.push(await this.execute(item, uriWallet));
      return this.reply(res, 200, replies);
    }
    const reply = await this.execute(request, uriWallet);
    const status = reply.error ? httpStatusFor(reply.error.code) : 200;
    return this.reply(res, status, reply);
  }

  replyError(res, id, err) {
    const reply = { result: null, error: { code: err.code, message: err.message }, id };
    return this.reply(res, httpStatusFor(err.code), reply);
  }

  reply(res, status, value) {
    const text = value === null ? '' : stringify(value) + '\n';
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  async execute(request, uriWallet) {
    let id = null;
    try {
      if (!request || typeof request !== 'object' || Array.isArray(request))
        throw new RpcError(codes.INVALID_REQUEST, 'Invalid Request object');
      id = request.id === undefined ? null : request.id;
      if (typeof request.method !== 'string')
        throw new RpcError(codes.INVALID_REQUEST, 'Method must be a string');
      const result = await this.call(request.method, request.params, uriWallet);
      return { result: result === undefined ? null : result, error: null, id };
    } catch (err) {
      if (!(err instanceof RpcError)) {
        this.logger.error(err);
        err = new RpcError(codes.MISC_ERROR, err.message);
      }
      return { result: null, error: { code: err.code, message: err.message }, id };
    }
  }

  async call(name, params, uriWallet) {
    const method = Object.prototype.hasOwnProperty.call(methods, name) ? methods[name] : null;
    if (!method)
      throw new RpcError(codes.METHOD_NOT_FOUND, 'Method not found');
    let args;
    if (params === undefined || params === null) {
      args = [];
    } else if (Array.isArray(params)) {
      args = params;
    } else if (typeof params === 'object') {
      args = [];
      for (const [key, value] of Object.entries(params)) {
        const index = method.params.indexOf(key);
        if (index < 0)
          throw new RpcError(codes.INVALID_PARAMETER, `Unknown named parameter ${key}`);
        args[index] = value;
      }
    } else {
      throw new RpcError(codes.INVALID_REQUEST, 'Params must be an array or object');
    }
    if (args.length > method.params.length)
      throw new RpcError(codes.MISC_ERROR, `${name} takes at most ${method.params.length} arguments\n${name} ${method.params.join(' ')}`);
    this.logger.debug('ThreadRPCServer method=%s wallet=%s', name, uriWallet === null ? '' : uriWallet);
    const ctx = { node: this.node, server: this, uriWallet, wallet: null };
    if (method.wallet) {
      ctx.wallet = this.node.wallets.resolve(uriWallet);
      await this.node.wallets.sync();
    }
    return method.handler(ctx, args);
  }
}

module.exports = { RpcServer };
