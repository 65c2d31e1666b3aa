/**
 * What the Downstream adapters over Node's own streams share (Node's HTTP/1.1 server response and an
 * HTTP/2 server stream): the request body read from a Readable, the write offset uWS reports, the
 * onWritable handler called when the stream drains, and the onAborted handler called once when the
 * stream closes before its response ended cleanly. Each adapter writes the response its own way.
 */
import type { Readable } from 'node:stream';

const EMPTY = Buffer.alloc(0);

export abstract class StreamDownstream {
  /** Response bytes handed to the stream so far (uWS's write offset). */
  protected offset = 0;
  /** The response was ended (or reset by us): a close after this is not the client going away. */
  ended = false;
  private writableHandler: ((offset: number) => boolean) | null = null;
  private abortHandler: (() => void) | null = null;

  constructor(private readonly body: Readable) {}

  onAborted(handler: () => void): void {
    this.abortHandler = handler;
  }

  onData(handler: (chunk: Buffer, isLast: boolean) => void): void {
    const body = this.body;
    body.on('data', (chunk: Buffer) => handler(chunk, false));
    body.once('end', () => handler(EMPTY, true));
  }

  pause(): void {
    this.body.pause();
  }

  resume(): void {
    this.body.resume();
  }

  getWriteOffset(): number {
    return this.offset;
  }

  onWritable(handler: (offset: number) => boolean): void {
    this.writableHandler = handler;
  }

  /** The stream closed; unless its response ended `clean`ly, the exchange hears of it once. */
  protected closed(clean: boolean): void {
    if (clean) return;
    const h = this.abortHandler;
    this.abortHandler = null;
    if (h !== null) h();
  }

  /** The stream took what was buffered: the onWritable handler gets the offset. */
  protected drained(): void {
    const h = this.writableHandler;
    if (h !== null && h(this.offset)) this.writableHandler = null;
  }
}
