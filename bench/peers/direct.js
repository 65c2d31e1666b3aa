// The limit: the load generator talks to the upstream with no proxy in between.

/** @type {import('../lib/types.js').PeerKind} */
const direct = {
  name: 'direct',
  describe: 'no proxy: the load goes straight to the upstream (the limit)',
  multiWorker: false,
  async probe() {
    return { ok: true, version: '' };
  },
  async start(ctx) {
    return { url: `http://${ctx.upstream.host}:${ctx.upstream.port}`, pid: null, stop: async () => {} };
  },
};

export default direct;
