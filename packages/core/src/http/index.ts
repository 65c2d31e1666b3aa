/**
 * HTTP/1.1 message rules for the proxy, with no sockets: checking downstream requests, parsing
 * upstream responses, removing hop-by-hop fields and writing forwarded request heads.
 */
export { HeaderList } from './header-list.js';
export { DEFAULT_LIMITS, DEFAULT_RESPONSE_LIMITS, MAX_CHUNK_EXTENSION_BYTES, MAX_CHUNK_SIZE_DIGITS } from './limits.js';
export type { RequestLimits, ResponseLimits } from './limits.js';
export { TCHAR, isToken, isFieldValue, isStrictFieldValue } from './char-tables.js';
export {
  CONNECTION_CLOSE,
  CONNECTION_KEEP_ALIVE,
  CONTENT_LENGTH_DIFFERING,
  CONTENT_LENGTH_INVALID,
  TE_CHUNKED_COUNT_SHIFT,
  TE_HAS_OTHER,
  TE_INVALID,
  TE_LAST_CHUNKED,
  connectionOptions,
  parseContentLength,
  parseTransferEncoding,
} from './framing-values.js';
export { ResponseParser } from './response-parser.js';
export type { ResponseBodyKind, ResponseHandler, ResponseParserOptions } from './response-parser.js';
export { ResponseError, responseErrorReason } from './response-errors.js';
export type { ResponseErrorCode } from './response-errors.js';
export { checkRequest, REQUEST_REJECTIONS } from './request-rules.js';
export type { RequestAccepted, RequestBodyKind, RequestRejected, RequestVerdict } from './request-rules.js';
export { HOP_BY_HOP_HEADERS, isHopByHop, stripHopByHop } from './hop-by-hop.js';
export { CRLF, LAST_CHUNK, chunkHeader, serializeRequestHead } from './request-head.js';
export type { BodyFraming } from './request-head.js';
export { canonicalReason, isBodylessStatus } from './response-head.js';
export { GrpcStatus, encodeGrpcMessage, grpcStatusName, grpcStatusOfLocalReply, isGrpcContentType, parseGrpcTimeout } from './grpc.js';
