/**
 * A piece of a background process's log for `sandbox_process_output`: at most `maxBytes` from an
 * offset, as text, with the offset the next read starts at. Offsets count the log's bytes: a
 * character that the piece's end splits is left for the next read, and an invalid byte shows as
 * U+FFFD yet counts as the one byte it is, so reading on from each `nextOffset` loses nothing.
 *
 * @module
 */

/** What {@linkcode readOutputPiece} gives. */
export interface OutputPiece {
  /** The piece as text (invalid bytes as U+FFFD). */
  output: string;
  /** The log's byte offset after the piece: where the next read starts. */
  nextOffset: number;
  /** Whether the log held more than `maxBytes` from `offset`. */
  truncated: boolean;
}

/**
 * Reads at most `maxBytes` of `stream` (the log from byte `offset`; cancelled once it has given
 * enough). `ended`: the process had ended before the log was read, so the log is complete and
 * nothing is held back at its end.
 */
export async function readOutputPiece(
  stream: ReadableStream<Uint8Array>,
  offset: number,
  maxBytes: number,
  ended: boolean,
): Promise<OutputPiece> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of stream) {
    const room = maxBytes - size;
    if (chunk.length > room) {
      chunks.push(chunk.subarray(0, room));
      size = maxBytes;
      truncated = true;
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  const piece = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    piece.set(c, at);
    at += c.length;
  }
  let cut = utf8CutPoint(piece, ended && !truncated);
  // A window too small for the character at its start still moves on (it shows as U+FFFD).
  if (cut === 0 && truncated) cut = size;
  return {
    output: new TextDecoder().decode(piece.subarray(0, cut)),
    nextOffset: offset + cut,
    truncated,
  };
}

/**
 * The length of the longest prefix of `bytes` that does not end inside a UTF-8 character which
 * the following bytes could still complete. With `final` (nothing follows), all of it. Counting
 * happens on the bytes themselves: decoding and encoding again would count each invalid byte as
 * the three bytes of U+FFFD.
 */
export function utf8CutPoint(bytes: Uint8Array, final: boolean): number {
  const length = bytes.length;
  if (final) return length;
  // The last lead byte, at most 3 bytes back (a character is at most 4 bytes long).
  for (let i = length - 1; i >= 0 && i >= length - 3; i--) {
    const b = bytes[i];
    if (b >= 0x80 && b <= 0xbf) continue; // a continuation byte: look further back
    const need = b >= 0xc2 && b <= 0xdf
      ? 2
      : b >= 0xe0 && b <= 0xef
      ? 3
      : b >= 0xf0 && b <= 0xf4
      ? 4
      : 1;
    if (i + need <= length) return length; // complete (or a byte that starts nothing)
    return continues(bytes, i) ? i : length;
  }
  return length;
}

/** Whether the bytes after the lead byte at `at` are a valid start of its character. */
function continues(bytes: Uint8Array, at: number): boolean {
  const lead = bytes[at];
  for (let i = at + 1; i < bytes.length; i++) {
    const b = bytes[i];
    // The second byte's range is narrower after some lead bytes (no overlong forms, no
    // surrogates, nothing past U+10FFFF), as the decoder checks.
    const [lo, hi] = i > at + 1
      ? [0x80, 0xbf]
      : lead === 0xe0
      ? [0xa0, 0xbf]
      : lead === 0xed
      ? [0x80, 0x9f]
      : lead === 0xf0
      ? [0x90, 0xbf]
      : lead === 0xf4
      ? [0x80, 0x8f]
      : [0x80, 0xbf];
    if (b < lo || b > hi) return false;
  }
  return true;
}
