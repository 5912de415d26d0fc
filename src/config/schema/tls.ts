import { z } from 'zod';
import { filePath } from './common.ts';

export const tls = z
  .strictObject({
    cert_file: filePath().nullable().default(null).describe('PEM certificate chain, relative to this file; null = self-signed certificate made in data_dir'),
    key_file: filePath().nullable().default(null).describe('PEM private key for cert_file, relative to this file'),
    min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('lowest TLS version accepted: TLSv1.2 or TLSv1.3'),
  })
  .superRefine((t, ctx) => {
    // One without the other would silently fall back to a self-signed certificate.
    if ((t.cert_file === null) !== (t.key_file === null)) {
      const missing = t.cert_file === null ? 'cert_file' : 'key_file';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'cert_file and key_file must be set together' });
    }
  })
  .prefault({})
  .describe('TLS for all listeners');
