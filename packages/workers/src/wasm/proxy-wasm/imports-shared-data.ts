/** Shared data: proxy_get_shared_data, proxy_set_shared_data (see shared-data.ts). */
import { Status } from './abi.js';
import { guarded, type HostFunctions, type HostState } from './host.js';

export function sharedDataImports(host: HostState): HostFunctions {
  const memory = host.memory;
  const store = host.env.sharedData;
  if (store === null) return {};
  return {
    proxy_get_shared_data: guarded((keyPtr, keyLen, retPtr, retSize, retCas) => {
      const found = store.get(memory.bytes(keyPtr!, keyLen!));
      if (found === null) return Status.NotFound;
      memory.returnBytes(found.value, retPtr!, retSize!);
      memory.setU32(retCas!, found.cas);
      return Status.Ok;
    }),
    proxy_set_shared_data: guarded((keyPtr, keyLen, valuePtr, valueLen, cas) => {
      const result = store.set(memory.copy(keyPtr!, keyLen!), memory.bytes(valuePtr!, valueLen!), cas! >>> 0);
      if (result === 'ok') return Status.Ok;
      if (result === 'cas-mismatch') return Status.CasMismatch;
      // Past shared_data.key_bytes / value_bytes, or every one of shared_data.keys taken.
      return Status.BadArgument;
    }),
  };
}
