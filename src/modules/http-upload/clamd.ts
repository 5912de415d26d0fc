// A small clamd client over its Unix socket (clamd(8), "INSTREAM"): the
// upload is streamed in chunks as it arrives, never written anywhere in the
// clear. Anything but an explicit "stream: OK" is not clean: a reset, a
// closed pipe, a size limit or an unknown reply all end in 'error'.
import { connect, type Socket } from 'node:net';

export type ScanResult = { verdict: 'clean' } | { verdict: 'infected'; signature: string } | { verdict: 'error'; reason: string };

/** Longest reply read from clamd; a real one is a line of well under 1 KiB. */
const MAX_REPLY_BYTES = 4096;

function open(socketPath: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`clamd did not answer within ${timeoutMs} ms`)));
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The reply up to the terminating NUL (z-commands), or the error that ended the connection first. */
function readReply(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let length = 0;
    const done = (err?: Error) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', done);
      socket.off('close', onEnd);
      if (err) reject(err);
      else resolve(Buffer.concat(parts).toString('utf8').replace(/\0[\s\S]*$/, '').trim());
    };
    const onData = (chunk: Buffer) => {
      parts.push(chunk);
      length += chunk.length;
      if (chunk.includes(0)) done();
      else if (length > MAX_REPLY_BYTES) done(new Error('clamd reply too long'));
    };
    const onEnd = () => done();
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', done);
  });
}

export function parseScanReply(reply: string): ScanResult {
  if (reply === 'stream: OK') return { verdict: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(reply);
  if (found) return { verdict: 'infected', signature: found[1]! };
  return { verdict: 'error', reason: reply === '' ? 'clamd closed the connection without a verdict' : reply.slice(0, 200) };
}

export class Clamd {
  private readonly socketPath: string;
  private readonly timeoutMs: number;

  constructor(socketPath: string, timeoutMs: number) {
    this.socketPath = socketPath;
    this.timeoutMs = timeoutMs;
  }

  /** True when clamd answers PING with PONG. */
  async ping(): Promise<boolean> {
    try {
      const socket = await open(this.socketPath, this.timeoutMs);
      try {
        const reply = readReply(socket);
        socket.write('zPING\0');
        return (await reply) === 'PONG';
      } finally {
        socket.destroy();
      }
    } catch {
      return false;
    }
  }

  /** Opens an INSTREAM scan; rejects when clamd cannot be reached. */
  async scan(): Promise<StreamScan> {
    return new StreamScan(await open(this.socketPath, this.timeoutMs));
  }
}

/** One INSTREAM scan: write() the data in order, then result(). */
export class StreamScan {
  private readonly socket: Socket;
  private readonly reply: Promise<ScanResult>;
  private failed: Error | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    // clamd may answer (and close) early, e.g. "INSTREAM size limit exceeded. ERROR": that is the verdict.
    this.reply = readReply(socket).then(parseScanReply, (err: Error) => ({ verdict: 'error', reason: err.message }));
    socket.on('error', (err) => (this.failed ??= err));
    socket.write('zINSTREAM\0');
  }

  /** Sends one chunk; resolves when the socket can take more (backpressure). */
  write(chunk: Buffer): Promise<void> {
    if (this.failed || this.socket.destroyed) return Promise.resolve();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(chunk.length);
    this.socket.write(header);
    if (this.socket.write(chunk)) return Promise.resolve();
    return new Promise((resolve) => {
      const go = () => {
        this.socket.off('drain', go);
        this.socket.off('close', go);
        resolve();
      };
      this.socket.once('drain', go);
      this.socket.once('close', go);
    });
  }

  /** Ends the stream (zero-length chunk) and waits for clamd's verdict. */
  async result(): Promise<ScanResult> {
    if (!this.socket.destroyed) this.socket.write(Buffer.alloc(4));
    const result = await this.reply;
    this.socket.destroy();
    // A broken pipe or reset on the way means clamd may not have seen everything: never clean.
    if (this.failed && result.verdict === 'clean') return { verdict: 'error', reason: this.failed.message };
    return result;
  }

  abort(): void {
    this.socket.destroy();
  }
}
