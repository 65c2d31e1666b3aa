/**
 * DNS service discovery, as pure logic: what a DNS answer means for a cluster's endpoints. The
 * supervisor does the querying and the timing; everything here is decided from plain values, so its
 * tests are exact.
 *
 * - dns-names: the `discovery.names` and `discovery.resolvers` syntax
 * - dns-refresh: when to ask again (TTL vs refresh, jitter) and what one answer does to a name's
 *   endpoints (a failure keeps the last good set, an empty answer empties only when it comes twice)
 * - dns-endpoints: the endpoints of an answer for strict-dns, logical-dns and SRV
 */
export * from './dns-names.js';
export * from './dns-refresh.js';
export * from './dns-endpoints.js';
