// The body of the SQLite writer thread (sqlite-writer.ts). Plain JavaScript so
// that it starts without the TypeScript loader, however the server was started.
// Each message is one write statement: run it, answer with the number of rows
// changed or the error. Statements are prepared once per text.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
// The same settings as the server's own connection (sqlite.ts); WAL is kept in the file.
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
const statements = new Map();

parentPort.on('message', (m) => {
  if (m.close) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    let stmt = statements.get(m.sql);
    if (!stmt) {
      stmt = db.prepare(m.sql);
      if (statements.size >= workerData.maxStatements) statements.delete(statements.keys().next().value);
      statements.set(m.sql, stmt);
    }
    parentPort.postMessage({ id: m.id, changes: stmt.run(...m.params).changes });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String(err?.message ?? err), code: err?.code } });
  }
});
