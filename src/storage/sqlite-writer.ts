// A second SQLite connection in a worker thread, for the large writes of the
// message path. better-sqlite3 is synchronous: a batch of archive rows (each
// row updates the table and four indexes) held the event loop for milliseconds,
// and the commit that crossed the WAL threshold copied pages back for longer,
// so every stream waited behind it (issue #9: p99 at 2,000 messages/s). Here
// that work runs on another core. SQLite lets one connection write at a time;
// the server's own connection waits for the lock (busy_timeout) as it would
// for another process.
import { Worker } from 'node:worker_threads';

export class SqliteWriterError extends Error {
  override name = 'SqliteWriterError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface Reply {
  id: number;
  changes?: number;
  error?: { message: string; code?: string };
}

export class SqliteWriterThread {
  private readonly worker: Worker;
  readonly #pending = new Map<number, { resolve(changes: number): void; reject(err: Error): void }>();
  #nextId = 0;
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  constructor(path: string, busyTimeoutMs: number, maxStatements = 64) {
    this.worker = new Worker(new URL('./sqlite-writer-worker.js', import.meta.url), { workerData: { path, busyTimeoutMs, maxStatements } });
    // Only pending writes keep the process alive (see run).
    this.worker.unref();
    this.worker.on('message', (r: Reply) => this.#settle(r));
    this.worker.on('error', (err) => this.#fail(err));
    this.worker.on('exit', (code) => this.#fail(new Error(`the SQLite writer thread exited (code ${code})`)));
  }

  /** The thread ended other than by close(): nothing more can run there. */
  get failed(): boolean {
    return this.#failure !== undefined && this.#closing === undefined;
  }

  /** Runs one write statement in the thread; resolves with the number of rows it changed. */
  run(sql: string, params: readonly unknown[]): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closing) return Promise.reject(new Error('the SQLite writer thread is closing'));
    const id = ++this.#nextId;
    if (this.#pending.size === 0) this.worker.ref();
    return new Promise<number>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, sql, params });
    });
  }

  /** Waits for the writes already sent, then ends the thread; safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#pending.size > 0 && !this.#failure) await new Promise<void>((r) => (this.#drained = r));
      if (this.#failure) return;
      const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
      this.worker.ref(); // until it has exited
      this.worker.postMessage({ close: true });
      await exited;
    })();
    return this.#closing;
  }

  #settle(r: Reply): void {
    const p = this.#pending.get(r.id);
    if (!p) return;
    this.#pending.delete(r.id);
    if (r.error) p.reject(new SqliteWriterError(r.error.message, r.error.code));
    else p.resolve(r.changes ?? 0);
    this.#afterSettle();
  }

  #fail(err: Error): void {
    if (this.#failure) return;
    // An exit after close() was asked for is the normal end.
    this.#failure = this.#closing && this.#pending.size === 0 ? new Error('the SQLite writer thread is closed') : err;
    for (const p of this.#pending.values()) p.reject(this.#failure);
    this.#pending.clear();
    this.#afterSettle();
  }

  #afterSettle(): void {
    if (this.#pending.size > 0) return;
    this.worker.unref();
    this.#drained?.();
    this.#drained = undefined;
  }
}
