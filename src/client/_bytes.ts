/**
 * Byte helpers shared by the exec protocol, the direct WebSocket, the credentials and the sandbox.
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

/** Standard base64 of `data` (a string is taken as its UTF-8 bytes). */
export function encodeBase64(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let binary = "";
  // In slices: spreading a large array into one call would overflow the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
