/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'hello-world',
  title: 'hello world, keep-alive, 50 connections',
  order: 10,
  load: { connections: 50, path: '/' },
};
