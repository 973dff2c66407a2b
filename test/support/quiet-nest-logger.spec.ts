import { Logger } from '@nestjs/common';

describe('test output', () => {
  it("has no application logs between jest's results: Nest's default logger writes nothing", () => {
    const writes: string[] = [];
    const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (writes.push(String(chunk)), true));
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (writes.push(String(chunk)), true));
    try {
      const logger = new Logger('TokenExchange');
      logger.log({ event: 'token_exchange' });
      logger.warn('token exchange failed');
      logger.debug('cached');
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    expect(writes).toEqual([]);
  });
});
