/**
 * The downstream side of one exchange: what the request pipeline needs from the server that read the
 * request, whatever its wire protocol. uWebSockets.js's HttpResponse has exactly this shape, so the
 * default codec hands its response object over as it is and pays nothing for the interface; every
 * other codec (Node's HTTP/1.1 server for `codec: http1-strict`) adapts to it.
 *
 * The contract, in uWS's terms:
 * - request body: `onData` delivers chunks in order, the last with `isLast` (possibly empty); an
 *   ArrayBuffer chunk is only valid during the call (uWS takes its memory back), a Buffer chunk is the
 *   pipeline's to keep. `pause`/`resume` hold the client back.
 * - response: `writeStatus` then `writeHeader`s, then exactly one of: `end(body, close)`,
 *   `endWithoutBody(length)`, `tryEnd` calls up to the declared total, or `write` calls then `end()`
 *   (chunked). `tryEnd`/`write` report backpressure; `onWritable` is called with the write offset when
 *   the client has taken what was buffered. `cork` batches writes into one.
 * - `end(body, true)` answers and closes the connection: nothing the client sent after this request is
 *   read as another request. `close` drops the connection at once (a failure after the head was sent).
 * - `sendTrailers`, where present, is called before the end of a response that has trailers.
 * - `onAborted` fires once if the connection goes away before the response ended.
 */
import type { HeaderList } from '@pillion/core';

export interface Downstream {
  onAborted(handler: () => void): unknown;
  onData(handler: (chunk: ArrayBuffer | Buffer, isLast: boolean) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  cork(cb: () => void): unknown;
  writeStatus(status: string): unknown;
  writeHeader(name: string, value: string | Buffer): unknown;
  write(chunk: Buffer | string): boolean;
  end(body?: Buffer | string, closeConnection?: boolean): unknown;
  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): unknown;
  tryEnd(chunk: Buffer | string, totalSize: number): [boolean, boolean];
  getWriteOffset(): number;
  onWritable(handler: (offset: number) => boolean): unknown;
  close(): unknown;
  /**
   * Trailer fields to send after the body, given before the call that ends the response. Only codecs
   * that carry trailers have it (HTTP/2); HTTP/1.1 codecs leave it out and the trailers are dropped.
   */
  sendTrailers?(trailers: HeaderList): unknown;
}
