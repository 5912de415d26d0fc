// Group commit for the archive (src/storage/group-commit.ts). Every archived
// message must be stored before it counts as handled, and one commit per
// message costs a write of every page it touches (the table and four indexes)
// each time; a busy archive makes larger commits. One message's copies (its
// rows) are never split between statements.
import { GroupCommit } from '../../storage/group-commit.ts';
import type { NewArchived } from './store.ts';

/** Rows of the accounts' and rooms' archives by default; the compliance archive's too. */
export class ArchiveWriter<Row = NewArchived> {
  readonly #commits: GroupCommit<readonly Row[], void>;

  /** `maxRows` bounds one statement (SQLite allows 32,766 bound values; a row has 8). */
  constructor(write: (rows: readonly Row[]) => Promise<void>, maxRows: number) {
    this.#commits = new GroupCommit(
      async (messages) => {
        await write(messages.flat());
        return messages.map(() => undefined);
      },
      maxRows,
      (rows) => rows.length,
    );
  }

  /** Resolves when these rows are committed. */
  add(rows: readonly Row[]): Promise<void> {
    return rows.length === 0 ? Promise.resolve() : this.#commits.add(rows);
  }
}
