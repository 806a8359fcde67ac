/**
 * Loopback ports for test servers: the product's own helper (the metrics endpoint uses it to
 * place the SDK's exporter), not a second copy.
 */
export { freeLoopbackPort as freePort } from '../../src/worker/metrics-server';
