// `palisade audit …`: verify the hash chain and its signatures, export entries.
//
//   palisade audit verify [--config FILE]
//   palisade audit export --since ISO-TIME [--until ISO-TIME] [--config FILE]
//
// verify exits 0 when the log is intact, 1 naming the first broken entry.
// export writes JSON lines (one entry per line, SIEM-friendly) to stdout.
import type { Command } from 'commander';
import { auditEntriesSince, verifyAuditLog } from '../policy/audit-log.ts';
import { CONFIG_OPTION, cliFail, withStorage } from './policy.ts';

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');

  audit
    .command('verify')
    .description('check the hash chain, the signed checkpoints and the seal; exit 1 naming the first broken entry')
    .option(...CONFIG_OPTION)
    .action(async (opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const r = await verifyAuditLog(storage, loaded.dataDir);
        for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
        if (!r.ok) cliFail(1, `audit log BROKEN at entry ${r.brokenAtSeq}: ${r.reason}`);
        process.stdout.write(`audit log OK: ${r.count} entries, ${r.checkpoints} signed checkpoints, sealed up to entry ${r.sealedTo}\n`);
      });
    });

  audit
    .command('export')
    .description('write the entries appended since a time as JSON lines')
    .requiredOption('--since <time>', 'ISO 8601 time, e.g. 2025-06-01T00:00:00Z')
    .option('--until <time>', 'ISO 8601 time (exclusive)')
    .option(...CONFIG_OPTION)
    .action(async (opts: { since: string; until?: string; config?: string }) => {
      const since = parseTime(opts.since, '--since');
      const until = opts.until === undefined ? undefined : parseTime(opts.until, '--until');
      await withStorage(opts.config, async (storage) => {
        for await (const e of auditEntriesSince(storage, since)) {
          if (until && e.ts >= until) break;
          const line = JSON.stringify({
            seq: e.seq,
            ts: e.ts.toISOString(),
            actor: e.actor,
            action: e.action,
            decision: e.decision,
            reason: e.reason,
            details: e.details,
            prev_hash: e.prevHash,
            hash: e.hash,
          });
          if (!process.stdout.write(line + '\n')) await new Promise((r) => process.stdout.once('drain', r));
        }
      });
    });
}

function parseTime(text: string, option: string): Date {
  const t = new Date(text);
  if (Number.isNaN(t.getTime())) cliFail(1, `palisade: ${option} ${text} is not an ISO 8601 time (e.g. 2025-06-01T00:00:00Z)`);
  return t;
}
