import { Action } from "./action";
import { Headers } from "./headers";
import {
  DIRECTION_REQUEST, DIRECTION_RESPONSE, MAP_REQUEST, MAP_RESPONSE, PROPERTY_AUTHORITY,
  PROPERTY_CLIENT_ADDRESS, PROPERTY_CLIENT_IDENTITY, PROPERTY_METHOD, PROPERTY_PATH, body_read, buffer_body, get_property,
  response_status, send_local_reply, set_cluster, set_path,
} from "./host";
import { growScratch, scratchPtr, scratchString, scratchUnits } from "./scratch";

const requestHeaders = new Headers(MAP_REQUEST);
const responseHeaders = new Headers(MAP_RESPONSE);

function property(id: i32): string {
  let n = get_property(id, scratchPtr(), scratchUnits());
  if (n > scratchUnits()) {
    growScratch(n << 1);
    n = get_property(id, scratchPtr(), scratchUnits());
  }
  return n < 0 ? "" : scratchString(n);
}

/**
 * One request as a filter sees it. The proxy makes one per request (see `Filter.createContext`
 * to keep your own per-request fields) and passes it to every hook of that request. Use it only
 * inside those hooks: its methods act on the request whose hook is running.
 */
export class Context {
  constructor(readonly id: u32) {}

  get requestHeaders(): Headers {
    return requestHeaders;
  }

  /** The upstream response's headers; empty before `onResponseHeaders`. */
  get responseHeaders(): Headers {
    return responseHeaders;
  }

  get method(): string {
    return property(PROPERTY_METHOD);
  }

  /** Path with query, as the client sent it (or as a filter rewrote it). */
  get path(): string {
    return property(PROPERTY_PATH);
  }

  /** Rewrites the path sent upstream. */
  set path(value: string) {
    set_path(changetype<usize>(value), value.length);
  }

  /** Host (and port) the client asked for. */
  get authority(): string {
    return property(PROPERTY_AUTHORITY);
  }

  /** The client's IP address. */
  get clientAddress(): string {
    return property(PROPERTY_CLIENT_ADDRESS);
  }

  /**
   * Who the client is, from its verified TLS certificate (listeners with `tls.client_certificate`):
   * the certificate's URI SAN (a SPIFFE ID such as `spiffe://cluster.local/ns/default/sa/web`), else
   * its first DNS SAN, else its subject CN. Empty when the client presented no certificate.
   */
  get clientIdentity(): string {
    return property(PROPERTY_CLIENT_IDENTITY);
  }

  /** Status of the upstream response; 0 before it arrives. */
  get responseStatus(): i32 {
    return response_status();
  }

  /**
   * Answers the request here instead of forwarding it (or replaces the upstream response).
   * `headers` is a flat list: name, value, name, value. Returns `Action.Stop` for `return`.
   */
  sendLocalReply(status: i32, body: string = "", headers: string[] = []): Action {
    let flat = "";
    for (let i = 0; i + 1 < headers.length; i += 2) {
      flat += headers[i] + "\n" + headers[i + 1] + "\n";
    }
    send_local_reply(status, changetype<usize>(body), body.length, changetype<usize>(flat), flat.length);
    return Action.Stop;
  }

  /** Sends the request to another cluster than the route chose. */
  setCluster(name: string): void {
    set_cluster(changetype<usize>(name), name.length);
  }

  /**
   * Asks for the whole request body in one `onRequestBody` call (end = true) instead of
   * chunks; call it from `onRequestHeaders`. Bodies over `limit` bytes get 413.
   */
  bufferRequestBody(limit: i32): void {
    buffer_body(DIRECTION_REQUEST, limit);
  }

  /** Like `bufferRequestBody` for the response; call it from `onResponseHeaders`. */
  bufferResponseBody(limit: i32): void {
    buffer_body(DIRECTION_RESPONSE, limit);
  }

  /** The body bytes of the running body hook (a chunk, or the whole body when buffered). */
  body(): ArrayBuffer {
    const size = body_read(0, 0);
    if (size <= 0) return new ArrayBuffer(0);
    const buffer = new ArrayBuffer(size);
    body_read(changetype<usize>(buffer), size);
    return buffer;
  }

  /** `body()` decoded as UTF-8. */
  bodyText(): string {
    return String.UTF8.decode(this.body());
  }
}
