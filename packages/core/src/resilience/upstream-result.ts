/**
 * How one attempt against an upstream ended, and the classes outlier detection and the failure-rate
 * breaker count it in. The classes follow Envoy: a local failure is treated like the status the
 * proxy itself answers with (connect failure 503, reset 502, timeout 504), so all three are gateway
 * failures.
 */

/** Failures with no upstream status. */
export type UpstreamFailure = 'connect-failure' | 'reset' | 'timeout';

/** The upstream's status code, or how the attempt failed without one. */
export type UpstreamResult = number | UpstreamFailure;

/** Anything below 500: clears the consecutive counters. */
export const RESULT_SUCCESS = 0;
/** A 5xx that is not a gateway error (500, 501, 505, ...): counts toward `consecutive_5xx`. */
export const RESULT_SERVER_ERROR = 1;
/** 502, 503, 504, connect failure, reset, timeout: counts toward both consecutive rules. */
export const RESULT_GATEWAY_FAILURE = 2;

export type ResultClass = typeof RESULT_SUCCESS | typeof RESULT_SERVER_ERROR | typeof RESULT_GATEWAY_FAILURE;

export function classifyUpstreamResult(result: UpstreamResult): ResultClass {
  if (typeof result !== 'number') return RESULT_GATEWAY_FAILURE;
  if (result < 500 || result > 599) return RESULT_SUCCESS;
  return result >= 502 && result <= 504 ? RESULT_GATEWAY_FAILURE : RESULT_SERVER_ERROR;
}

/** True for 502, 503 and 504. */
export function isGatewayErrorStatus(status: number): boolean {
  return status >= 502 && status <= 504;
}
