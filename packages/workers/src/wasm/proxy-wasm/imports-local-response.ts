/** proxy_send_local_response: answer the request from the filter (status, body, serialized headers). */
import { Status } from './abi.js';
import { currentRequest, guarded, type HostFunctions, type HostState } from './host.js';
import { replyHeaders } from './imports-headers.js';

const utf8 = new TextDecoder();

export function localResponseImports(host: HostState): HostFunctions {
  const memory = host.memory;
  return {
    // The details and the gRPC status are Envoy's access-log and gRPC extras; Pillion's reply has neither.
    proxy_send_local_response: guarded((status, _detailsPtr, _detailsLen, bodyPtr, bodyLen, headersPtr, headersLen) => {
      const request = currentRequest(host, 'proxy_send_local_response');
      if (!(Number.isInteger(status) && status! >= 200 && status! <= 599)) return Status.BadArgument;
      const headers = replyHeaders(memory.bytes(headersPtr!, headersLen!));
      request.sendLocalReply(status!, utf8.decode(memory.bytes(bodyPtr!, bodyLen!)), headers);
      host.replied = true;
      return Status.Ok;
    }),
  };
}
