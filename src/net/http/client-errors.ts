// Requests Node's HTTP parser refuses before any route sees them: headers or
// request line too large (431), too slow (408), not HTTP (400). The answer is
// written with end(), not destroy(), so it reaches the client before the close.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

export function refuseBadRequest(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = `${STATUS_CODES[code]}.\n`;
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // A peer that never reads its answer does not keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}
