/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'connections-1000',
  title: 'hello world, keep-alive, 1000 connections',
  order: 20,
  load: { connections: 1000, path: '/' },
};
