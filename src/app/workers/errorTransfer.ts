// Makes errors thrown in the pipeline worker keep their `code`, `data` and `caller` on the way to the UI thread.
import * as Comlink from 'comlink';

// Comlink's own "throw" handler sends only an Error's message, name and stack, so a GitError would reach the UI as a
// plain Error and the UI could no longer say what went wrong (404, 401, Cancelled, ...). Its deserializer copies every
// field it is given back onto the Error it rethrows, so extending the serialized value is enough; the worker imports
// this module once, before Comlink.expose.
const comlinkThrow = Comlink.transferHandlers.get('throw')!;

Comlink.transferHandlers.set('throw', {
  canHandle: comlinkThrow.canHandle,
  serialize(thrown) {
    const [serialized, transferables] = comlinkThrow.serialize(thrown) as [{ isError: boolean; value: Record<string, unknown> }, Transferable[]];
    const error = (thrown as { value?: { code?: unknown; data?: unknown; caller?: unknown } }).value;
    if (serialized.isError && error) {
      if (typeof error.code === 'string') serialized.value.code = error.code;
      if (typeof error.caller === 'string') serialized.value.caller = error.caller;
      if (error.data !== undefined) serialized.value.data = structuredCloneOrNothing(error.data);
    }
    return [serialized, transferables];
  },
  deserialize: comlinkThrow.deserialize,
});

/** Error data is informative only: drop it rather than fail the whole reply if it cannot be cloned. */
function structuredCloneOrNothing(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    return undefined;
  }
}
