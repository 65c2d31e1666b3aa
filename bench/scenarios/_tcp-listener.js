// Shared by the tcp-* scenarios (files starting with "_" are not scenarios): Pillion's bench
// config with its HTTP listener replaced by a tcp listener on the same port and cluster.

/**
 * @param {import('../lib/types.js').PillionConfig} config
 * @returns {import('../lib/types.js').PillionConfig}
 */
export function toTcpListener(config) {
  const listeners = /** @type {Record<string, unknown>[]} */ (config.listeners);
  const clusters = /** @type {{ name: string }[]} */ (config.clusters);
  const http = listeners[0] ?? {};
  return {
    ...config,
    listeners: [{ name: 'bench-tcp', protocol: 'tcp', address: http.address, port: http.port, cluster: clusters[0]?.name }],
  };
}
