import type * as http from 'node:http';

/**
 * Waits `ms` before an emulator answers (setAnswerDelayMs): resolves true then, or false as soon as the
 * response is closed (the client gave up, the server is closing), with its timer cleared.
 */
export function answerAfter(res: http.ServerResponse, ms: number): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(!res.destroyed);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      res.off('close', gone);
      resolve(!res.destroyed);
    }, ms);
    const gone = () => {
      clearTimeout(timer);
      resolve(false);
    };
    res.once('close', gone);
  });
}
