// What the WASM SIMD kernels' hosts share: the kernels' binaries ship as base64, their buffers are 16-byte aligned,
// and their memories grow in 64 KiB pages.

/** A kernel's WebAssembly binary from the base64 that `npm run build:kernels` writes. */
export function wasmBytes(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** Bytes in a WebAssembly memory page. */
export const WASM_PAGE = 65536;

/** `bytes` rounded up to a multiple of 16: where a kernel's next buffer may start (v128 loads). */
export const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;

/** Grows `memory` (whole 64 KiB pages) until it holds at least `bytes`; throws as Memory.grow does when it cannot. */
export function growTo(memory: WebAssembly.Memory, bytes: number): void {
  const pages = Math.ceil((bytes - memory.buffer.byteLength) / WASM_PAGE);
  if (pages > 0) memory.grow(pages);
}
