/**
 * Error codes of the response parser. Every one means the upstream response is invalid: the proxy
 * answers 502 (or aborts the downstream response if it already started) and closes the upstream
 * connection. Codes are negative so `execute()` can return 0 for success and a code otherwise.
 */
export const ResponseError = Object.freeze({
  INVALID_STATUS_LINE: -1,
  INVALID_VERSION: -2,
  INVALID_STATUS: -3,
  BARE_LF: -4,
  BARE_CR: -5,
  OBS_FOLD: -6,
  WHITESPACE_BEFORE_COLON: -7,
  INVALID_HEADER_NAME: -8,
  INVALID_HEADER_VALUE: -9,
  HEAD_TOO_LARGE: -10,
  TOO_MANY_HEADERS: -11,
  INVALID_CONTENT_LENGTH: -12,
  DIFFERING_CONTENT_LENGTH: -13,
  CONTENT_LENGTH_WITH_TRANSFER_ENCODING: -14,
  INVALID_TRANSFER_ENCODING: -15,
  TRANSFER_ENCODING_IN_HTTP10: -16,
  INVALID_CHUNK_SIZE: -17,
  INVALID_CHUNK_EXTENSION: -18,
  CHUNK_EXTENSION_TOO_LARGE: -19,
  MISSING_CHUNK_CRLF: -20,
  EARLY_CLOSE: -21,
  CLOSED_BEFORE_RESPONSE: -22,
  UNEXPECTED_DATA: -23,
} as const);

export type ResponseErrorCode = (typeof ResponseError)[keyof typeof ResponseError];

const REASONS: Record<number, string> = {
  [ResponseError.INVALID_STATUS_LINE]: 'invalid status line',
  [ResponseError.INVALID_VERSION]: 'unsupported HTTP version',
  [ResponseError.INVALID_STATUS]: 'status code outside 100-599',
  [ResponseError.BARE_LF]: 'bare LF',
  [ResponseError.BARE_CR]: 'bare CR',
  [ResponseError.OBS_FOLD]: 'obsolete line folding',
  [ResponseError.WHITESPACE_BEFORE_COLON]: 'whitespace before colon',
  [ResponseError.INVALID_HEADER_NAME]: 'invalid header name',
  [ResponseError.INVALID_HEADER_VALUE]: 'NUL or CR in header value',
  [ResponseError.HEAD_TOO_LARGE]: 'response head too large',
  [ResponseError.TOO_MANY_HEADERS]: 'too many header fields',
  [ResponseError.INVALID_CONTENT_LENGTH]: 'invalid content-length',
  [ResponseError.DIFFERING_CONTENT_LENGTH]: 'content-length values differ',
  [ResponseError.CONTENT_LENGTH_WITH_TRANSFER_ENCODING]: 'content-length with transfer-encoding',
  [ResponseError.INVALID_TRANSFER_ENCODING]: 'invalid transfer-encoding',
  [ResponseError.TRANSFER_ENCODING_IN_HTTP10]: 'transfer-encoding in an HTTP/1.0 response',
  [ResponseError.INVALID_CHUNK_SIZE]: 'invalid chunk size',
  [ResponseError.INVALID_CHUNK_EXTENSION]: 'invalid chunk extension',
  [ResponseError.CHUNK_EXTENSION_TOO_LARGE]: 'chunk extension too large',
  [ResponseError.MISSING_CHUNK_CRLF]: 'missing CRLF after chunk data',
  [ResponseError.EARLY_CLOSE]: 'connection closed before the response ended',
  [ResponseError.CLOSED_BEFORE_RESPONSE]: 'connection closed before any response byte',
  [ResponseError.UNEXPECTED_DATA]: 'data received while no response was expected',
};

/** A short text for a ResponseError code (for logs and the 502 body). */
export function responseErrorReason(code: number): string {
  return REASONS[code] ?? 'invalid response';
}
