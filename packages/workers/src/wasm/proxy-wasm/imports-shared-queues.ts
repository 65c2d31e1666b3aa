/** Shared queues: proxy_register/resolve/enqueue/dequeue_shared_queue (see shared-queues.ts). */
import { threadId } from 'node:worker_threads';
import { Status } from './abi.js';
import { guarded, type HostFunctions, type HostState } from './host.js';

export function sharedQueueImports(host: HostState): HostFunctions {
  const memory = host.memory;
  const queues = host.env.sharedQueues;
  if (queues === null) return {};
  return {
    proxy_register_shared_queue: guarded((namePtr, nameLen, retId) => {
      const id = queues.register(memory.copy(namePtr!, nameLen!), threadId + 1);
      // Past shared_queues.queues, or a name longer than 256 bytes.
      if (id === 0) return Status.BadArgument;
      host.watchQueue(id);
      memory.setU32(retId!, id);
      return Status.Ok;
    }),
    proxy_resolve_shared_queue: guarded((vmIdPtr, vmIdLen, namePtr, nameLen, retId) => {
      // One VM id here: '' (plugin_vm_id).
      if (memory.string(vmIdPtr!, vmIdLen!) !== '') return Status.NotFound;
      const id = queues.resolve(memory.copy(namePtr!, nameLen!));
      if (id === 0) return Status.NotFound;
      memory.setU32(retId!, id);
      return Status.Ok;
    }),
    proxy_enqueue_shared_queue: guarded((id, valuePtr, valueLen) => {
      const result = queues.enqueue(id!, memory.bytes(valuePtr!, valueLen!));
      if (result === 'ok') return Status.Ok;
      if (result === 'not-found') return Status.NotFound;
      // Past shared_queues.items or item_bytes.
      return Status.BadArgument;
    }),
    proxy_dequeue_shared_queue: guarded((id, retPtr, retLen) => {
      const item = queues.dequeue(id!);
      if (item === 'not-found') return Status.NotFound;
      if (item === 'empty') return Status.Empty;
      memory.returnBytes(item, retPtr!, retLen!);
      return Status.Ok;
    }),
  };
}
