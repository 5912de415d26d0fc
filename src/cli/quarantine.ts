// `palisade quarantine …`: files the virus scanner found infected
// (docs/modules/http-upload.md#quarantine). Like `palisade user`, it works on
// the database and the uploads folder directly, with the server running or
// not (a running server sees a change at the next download); every change is
// audited.
//
//   palisade quarantine list
//   palisade quarantine release ID --yes
//   palisade quarantine delete ID
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { UploadStore, type Upload, type UploadTables } from '../modules/http-upload/store.ts';
import type { Storage } from '../storage/types.ts';
import { CONFIG_OPTION, auditCli, cliFail, withStorage } from './policy.ts';

/** A file's id is its blob name: 144 random bits, base64url (never a path). */
const ID = /^[A-Za-z0-9_-]{24}$/;
const LIST_LIMIT = 10_000;

const uploads = (storage: Storage) => new UploadStore(storage.db as unknown as Kysely<UploadTables>);

/** The quarantined file with this id, or the command fails. */
async function quarantinedFile(store: UploadStore, id: string): Promise<Upload> {
  if (!ID.test(id)) cliFail(1, `palisade: ${id} is not a quarantined file's id (see palisade quarantine list)`);
  const file = await store.byBlob(id);
  if (file?.status !== 'quarantined') cliFail(1, `palisade: no quarantined file ${id}`);
  return file;
}

const details = (f: Upload) => ({ file: f.blob, uploader: f.owner, filename: f.filename, size: f.size, signature: f.threat });

export function registerQuarantineCommands(program: Command): void {
  const quarantine = program.command('quarantine').description('files the virus scanner refused (docs/modules/http-upload.md)');

  quarantine
    .command('list')
    .description('list quarantined files: id, uploader, size, type, virus, when')
    .option(...CONFIG_OPTION)
    .action(async (opts: { config?: string }) => {
      await withStorage(opts.config, async (storage) => {
        const files = await uploads(storage).quarantined(LIST_LIMIT);
        if (files.length === 0) process.stderr.write('no quarantined files\n');
        for (const f of files) {
          const type = f.detectedType ?? f.contentType ?? 'unknown';
          // The file name is the uploader's: control characters were taken out at the slot request; tabs cannot be in it.
          process.stdout.write(`${f.blob}\t${f.owner}\t${f.size} bytes\t${type}\t${f.threat ?? '?'}\t${new Date(f.createdAt).toISOString()}\t${f.filename}\n`);
        }
      });
    });

  quarantine
    .command('release <id>')
    .description('make a quarantined file downloadable again (the scanner called it infected: be sure)')
    .option('--yes', 'confirm: the file becomes downloadable through its link')
    .option(...CONFIG_OPTION)
    .action(async (id: string, opts: { yes?: boolean; config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const store = uploads(storage);
        const file = await quarantinedFile(store, id);
        if (!opts.yes) cliFail(1, `palisade: releasing makes ${file.filename} (${file.threat ?? 'infected'}) downloadable through its link; add --yes to do it`);
        if (!(await store.release(id))) cliFail(1, `palisade: no quarantined file ${id}`);
        await auditCli(storage, loaded, 'http-upload.quarantine.release', `released quarantined file ${id}`, details(file));
        process.stdout.write(`released ${id}: ${file.filename} from ${file.owner} can be downloaded again until ${new Date(file.expiresAt).toISOString()}\n`);
      });
    });

  quarantine
    .command('delete <id>')
    .description('delete a quarantined file and its key')
    .option(...CONFIG_OPTION)
    .action(async (id: string, opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const store = uploads(storage);
        const file = await quarantinedFile(store, id);
        // The key goes with the row: without it the encrypted file is unreadable even if removing it fails.
        if (!(await store.remove(id))) cliFail(1, `palisade: no quarantined file ${id}`);
        await unlink(join(loaded.dataDir, 'uploads', id)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
        await auditCli(storage, loaded, 'http-upload.quarantine.delete', `deleted quarantined file ${id}`, details(file));
        process.stdout.write(`deleted ${id}\n`);
      });
    });
}
