// The body of a request whose connection then becomes a stream of its own
// (berthd's CLI workers, the runtime server): read off the raw socket.
import type { Socket } from 'node:net';

/**
 * The body of an upgrade request: `head` (what came with the headers) and
 * the rest from the socket, which is left paused; `rest` is what came after
 * it. Shorter when the client ended first.
 */
export async function upgradeBody(socket: Socket, head: Buffer, n: number): Promise<{ body: Buffer; rest: Buffer }> {
  while (head.length < n) {
    const chunk = await new Promise<Buffer | null>((res) => { socket.once('data', res); socket.once('end', () => res(null)); socket.resume(); });
    socket.pause();
    if (!chunk) break;
    head = Buffer.concat([head, chunk]);
  }
  return { body: head.subarray(0, n), rest: head.subarray(n) };
}
