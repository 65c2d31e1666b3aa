/**
 * Every HTTP size limit's default, in one place. Operators override them per listener or cluster;
 * these are what applies when the config is silent.
 */

/** Limits on a downstream request as uWS hands it over (see request-rules.ts). */
export interface RequestLimits {
  /** Longest request-target (path plus query) in bytes; longer gets 414. */
  readonly maxUriBytes: number;
  /** Sum over header fields of `name: value\r\n`; more gets 431. */
  readonly maxHeaderBytes: number;
  /** Most header fields (lines); more gets 431. */
  readonly maxHeaders: number;
}

export const DEFAULT_LIMITS: RequestLimits = Object.freeze({
  maxUriBytes: 8192,
  maxHeaderBytes: 65536,
  maxHeaders: 100,
});

/** Limits on an upstream response head (see response-parser.ts). */
export interface ResponseLimits {
  /** Bytes of a head (status line, fields, final CRLF) or of a trailer section. */
  readonly maxHeadBytes: number;
  /** Fields in one head or one trailer section. */
  readonly maxHeaders: number;
}

export const DEFAULT_RESPONSE_LIMITS: ResponseLimits = Object.freeze({
  maxHeadBytes: 65536,
  maxHeaders: 100,
});

/**
 * Bytes of chunk extensions on one chunk-size line. Extensions are ignored, so without a bound a
 * peer could make us scan an endless line while never sending data.
 */
export const MAX_CHUNK_EXTENSION_BYTES = 4096;

/** Hex digits in one chunk size (leading zeros count): 16 covers every safe integer. */
export const MAX_CHUNK_SIZE_DIGITS = 16;
