'use strict';

// Optional persistence (-persist) without a database: the active chain is
// kept as an append-only file of raw blocks (4-byte LE length + block) and
// replayed through full validation at startup; wallets keep their master
// key and address counters in a JSON file; the mempool is saved on clean
// shutdown like Core's mempool.dat. Writes are synchronous, so a SIGKILL
// loses nothing that was already connected.

const fs = require('fs');
const path = require('path');

class BlockFile {
  constructor(dir) {
    this.file = path.join(dir, 'blocks.dat');
    this.offsets = []; // offsets[h - 1] = file offset of the block at height h
    this.size = 0;
  }

  // Returns the stored raw blocks (heights 1..n); a torn last record is dropped.
  load() {
    if (!fs.existsSync(this.file))
      return [];
    const data = fs.readFileSync(this.file);
    const blocks = [];
    let pos = 0;
    while (pos + 4 <= data.length) {
      const len = data.readUInt32LE(pos);
      if (pos + 4 + len > data.length)
        break;
      this.offsets.push(pos);
      blocks.push(data.subarray(pos + 4, pos + 4 + len));
      pos += 4 + len;
    }
    this.truncate(pos);
    return blocks;
  }

  truncate(size) {
    if (fs.existsSync(this.file))
      fs.truncateSync(this.file, size);
    this.size = size;
  }

  // Keeps heights 1..height-1 and appends `raw` as `height`.
  connected(height, raw) {
    if (this.offsets.length >= height) {
      this.truncate(this.offsets[height - 1]);
      this.offsets.length = height - 1;
    }
    const header = Buffer.alloc(4);
    header.writeUInt32LE(raw.length);
    fs.appendFileSync(this.file, Buffer.concat([header, raw]));
    this.offsets.push(this.size);
    this.size += 4 + raw.length;
  }

  disconnected(height) {
    if (this.offsets.length >= height) {
      this.truncate(this.offsets[height - 1]);
      this.offsets.length = height - 1;
    }
  }
}

class JsonFile {
  constructor(file, fallback) {
    this.file = file;
    this.fallback = fallback;
  }

  read() {
    if (!fs.existsSync(this.file))
      return this.fallback;
    return JSON.parse(fs.readFileSync(this.file, 'utf8'));
  }

  write(value) {
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(value, null, 1), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }
}

class MempoolFile {
  constructor(dir) {
    this.file = path.join(dir, 'mempool.dat');
  }

  // Consumes the file, as Core does with mempool.dat.
  take() {
    if (!fs.existsSync(this.file))
      return [];
    const lines = fs.readFileSync(this.file, 'utf8').split('\n').filter(Boolean);
    fs.unlinkSync(this.file);
    return lines.map(hex => Buffer.from(hex, 'hex'));
  }

  save(raws) {
    fs.writeFileSync(this.file, raws.map(r => r.toString('hex')).join('\n') + '\n');
  }
}

class Persistence {
  constructor(dir) {
    this.blocks = new BlockFile(dir);
    this.wallets = new JsonFile(path.join(dir, 'wallets.json'), {});
    this.mempool = new MempoolFile(dir);
  }
}

module.exports = { Persistence };
