// Group commit for the archive. Every archived message must be stored before
// it counts as handled, and one commit per message costs a write of every page
// it touches (the table and four indexes) each time. Rows are written together
// in one statement: those that arrive while the event loop turns, and, while a
// statement is being committed (in the SQLite writer thread, or by
// PostgreSQL), all that arrive meanwhile, so the busier the archive the larger
// its commits. Each caller still waits for its own rows to be committed. If a
// shared statement fails, each caller's rows are written alone, so one bad row
// (an account deleted meanwhile) fails only its own message.
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
  #scheduled = false;
  #writing = false;

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
      if (!this.#scheduled && !this.#writing) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#writing || this.#queue.length === 0) return;
    // Whole callers, up to maxRows (one caller's rows are never split).
    let rows = 0;
    let take = 0;
    while (take < this.#queue.length && (take === 0 || rows + this.#queue[take]!.rows.length <= this.#maxRows)) rows += this.#queue[take++]!.rows.length;
    const batch = this.#queue.splice(0, take);
    this.#writing = true;
    void this.#commit(batch).finally(() => {
      this.#writing = false;
      this.#flush();
    });
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
