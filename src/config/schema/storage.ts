import { z } from 'zod';
import { filePath } from './common.ts';

const postgresUrl = () =>
  z.string().superRefine((url, ctx) => {
    let ok = false;
    try {
      ok = ['postgres:', 'postgresql:'].includes(new URL(url).protocol);
    } catch {
      // Not a URL at all: reported below.
    }
    if (!ok) ctx.addIssue({ code: 'custom', message: 'must be a postgres:// or postgresql:// URL', params: { hint: 'e.g. postgres://palisade:secret@localhost:5432/palisade' } });
  });

export const storage = z
  .strictObject({
    backend: z.enum(['sqlite', 'postgres']).default('sqlite').describe('where data is stored: sqlite or postgres'),
    sqlite_path: filePath().default('palisade.db').describe('SQLite database file, relative to data_dir'),
    postgres_url: postgresUrl()
      .nullable()
      .default(null)
      .meta({ description: 'PostgreSQL connection URL, required for backend postgres; env PALISADE_POSTGRES_URL overrides', secret: true }),
  })
  .superRefine((s, ctx) => {
    if (s.backend === 'postgres' && s.postgres_url === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['postgres_url'],
        message: "is required when storage.backend is 'postgres'",
        params: { hint: 'set it here or in the environment variable PALISADE_POSTGRES_URL' },
      });
    }
  })
  .prefault({})
  .describe('storage backend');
