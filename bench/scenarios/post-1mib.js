/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'post-1mib',
  title: '1 MiB POST bodies, keep-alive, 10 connections',
  order: 40,
  load: { connections: 10, path: '/upload', method: 'POST', bodyBytes: 1024 * 1024 },
};
