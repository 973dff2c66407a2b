/**
 * Reads a fetch() response body as text, refusing more than `maxBytes` (the read is cancelled
 * and `tooLarge()` thrown): an upstream can never make the BFF buffer an unbounded answer.
 */
export async function readBoundedText(res: Response, maxBytes: number, tooLarge: () => Error): Promise<string> {
  if (!res.body) return '';
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body.cancel();
    throw tooLarge();
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
