'use strict';

// Minimal FIFO async mutex: `const unlock = await m.lock(); ... unlock();`
class Mutex {
  constructor() {
    this.tail = Promise.resolve();
  }

  lock() {
    let release;
    const next = new Promise((resolve) => {
      release = resolve;
    });
    const acquired = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return acquired;
  }
}

module.exports = { Mutex };
