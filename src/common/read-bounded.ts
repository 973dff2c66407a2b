/**
 * Reads a body whole, refusing more than `maxBytes`: the read stops (the stream is destroyed, a web
 * stream cancelled) and `tooLarge()` is thrown. An upstream can never make the BFF buffer an unbounded answer.
 * The one bounded read of the BFF: for undici's and Node's streams and for fetch() bodies alike.
 */
export async function readBounded(body: AsyncIterable<Uint8Array>, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge(); // leaving the loop ends the read
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A fetch() response's body as text (bounded as above; a declared length over the limit is refused before any read). */
export async function readBoundedText(res: Response, maxBytes: number, tooLarge: () => Error): Promise<string> {
  if (!res.body) return '';
  if (Number(res.headers.get('content-length') ?? '0') > maxBytes) {
    await res.body.cancel();
    throw tooLarge();
  }
  return (await readBounded(res.body, maxBytes, tooLarge)).toString('utf8');
}
