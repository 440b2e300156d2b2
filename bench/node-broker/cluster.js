'use strict';
// The same broker under node:cluster: one worker per core (or WORKERS=n),
// all sharing the listening port (as bench/node-peer/cluster.js).

const cluster = require('node:cluster');
const os = require('node:os');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS) || os.availableParallelism();
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    console.error(`worker ${worker.process.pid} exited (${signal || code})`);
  });
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  require('./server.js');
}
