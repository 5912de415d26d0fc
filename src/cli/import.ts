// The bulk-import format: one account per line, 'jid,password' or just 'jid'
// (a password is then generated). The password is everything after the first
// comma, so it may contain commas. Blank lines and lines starting with '#' are skipped.
export interface ImportEntry {
  address: string;
  password: string;
  generated: boolean;
}

export class ImportFormatError extends Error {}

export const MAX_IMPORT_LINES = 1_000_000;

export function parseImport(text: string, source: string, generate: () => string): ImportEntry[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > MAX_IMPORT_LINES) throw new ImportFormatError(`${source}: more than ${MAX_IMPORT_LINES} lines`);
  const out: ImportEntry[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const comma = raw.indexOf(',');
    const address = (comma < 0 ? raw : raw.slice(0, comma)).trim();
    if (!address) throw new ImportFormatError(`${source}:${i + 1}: the line has no JID`);
    if (comma < 0) out.push({ address, password: generate(), generated: true });
    else {
      const password = raw.slice(comma + 1);
      if (password === '') throw new ImportFormatError(`${source}:${i + 1}: empty password (leave out the comma to have one generated)`);
      out.push({ address, password, generated: false });
    }
  });
  return out;
}
