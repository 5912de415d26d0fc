// Group commit for the archive. Every archived message must be stored before
// it counts as handled, and one commit per message costs a write of every page
// it touches (the table and four indexes) each time. Rows that arrive while the
// event loop turns are written together in one statement, so concurrent
// messages share a commit; each caller still waits for its own rows to be
// committed. If a shared statement fails, each caller's rows are written alone,
// so one bad row (an account deleted meanwhile) fails only its own message.
import type { NewArchived } from './store.ts';

interface Pending<Row> {
  rows: readonly Row[];
  resolve(): void;
  reject(err: unknown): void;
}

/** Rows of the accounts' and rooms' archives by default; the compliance archive's too. */
export class ArchiveWriter<Row = NewArchived> {
  readonly #write: (rows: readonly Row[]) => Promise<void>;
  readonly #maxRows: number;
  #queue: Pending<Row>[] = [];
  #queued = 0;
  #scheduled = false;

  /** `maxRows` bounds one statement (SQLite allows 32,766 bound values; a row has 8). */
  constructor(write: (rows: readonly Row[]) => Promise<void>, maxRows: number) {
    this.#write = write;
    this.#maxRows = maxRows;
  }

  /** Resolves when these rows are committed. */
  add(rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ rows, resolve, reject });
      this.#queued += rows.length;
      if (this.#queued >= this.#maxRows) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.#queued = 0;
    void this.#commit(batch);
  }

  async #commit(batch: Pending<Row>[]): Promise<void> {
    try {
      await this.#write(batch.flatMap((p) => p.rows));
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) await this.#write(p.rows).then(p.resolve, p.reject);
    }
  }
}
