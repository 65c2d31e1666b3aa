/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'response-64k',
  title: '64 KiB responses, keep-alive, 50 connections',
  order: 30,
  load: { connections: 50, path: '/64k' },
};
