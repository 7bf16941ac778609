/**
 * Byte helpers shared by the exec protocol, the direct WebSocket and the sandbox.
 *
 * @module
 */

/** Joins `chunks` (whose lengths add up to `total`) into one array; a single chunk is returned as is. */
export function concatBytes(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
