// HTTP file upload (XEP-0363), first slice: an upload service on its own
// subdomain (upload.<domain> by default), served through the router's
// component hosts, so every slot request is classified (feature
// 'file-transfer') and decided by the policy before it gets here. Files go
// through type checks and a clamd scan to encrypted storage in
// <data_dir>/uploads and are served on the HTTPS listener (migrations 0016,
// 0017). Messages sharing an upload's URL are file transfers for the policy,
// and the recipients the policy let them reach may download the file
// (sharing.ts). Docs: docs/modules/http-upload.md.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { componentResult, defineModule, type RouteContext } from '../../core/module.ts';
import { PASSWORD_LOGIN_SERVICE, type PasswordLogin } from '../../core/password-login.ts';
import { featureFact } from '../../policy/compile.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { parseJID, tryParseJID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { loadServerKey } from './at-rest.ts';
import { Clamd } from './clamd.ts';
import { checkManaged, managedOptions, ManagedClamd } from './clamd-managed.ts';
import { DownloadAuth } from './download-auth.ts';
import { NS_UPLOAD, UploadService } from './service.ts';
import { Sharing } from './sharing.ts';
import { UploadStore, type UploadTables } from './store.ts';

const MIB = 1024 * 1024;

/** Executables and installable packages: refused by default whatever the file is called. */
export const DEFAULT_REFUSED_TYPES = [
  'application/x-elf',
  'application/x-msdownload',
  'application/x-mach-binary',
  'application/x-sharedlib',
  'application/x-executable',
  'application/vnd.microsoft.portable-executable',
  'application/x-msi',
  'application/java-vm',
  'application/java-archive',
  'application/vnd.android.package-archive',
  'application/x-deb',
  'application/x-rpm',
  'application/x-shockwave-flash',
  'application/wasm',
  'application/x-ms-regedit',
];

const mediaType = z
  .string()
  .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/, { message: 'must be a media type without parameters, e.g. image/png' });

const options = z.strictObject({
  subdomain: z
    .string()
    .min(1)
    .max(255)
    .refine((s) => isDomain(s), { message: 'must be a domain name (no @ or /), e.g. upload.example.org' })
    .nullable()
    .default(null)
    .describe("the upload service's domain; null: 'upload.' followed by the server's domain"),
  name: z.string().min(1).max(100).default('File upload').describe('the name the service shows in service discovery'),
  max_file_size: z
    .int()
    .min(1)
    .max(16 * 1024 * MIB)
    .default(100 * MIB)
    .describe('largest file, in bytes (default 100 MiB)'),
  daily_quota: z
    .int()
    .min(0)
    .max(2 ** 50)
    .default(1024 * MIB)
    .describe('bytes one account may request slots for in 24 hours (default 1 GiB); 0: no uploads'),
  expire_after_days: z.int().min(1).max(3650).default(30).describe('days after which an uploaded file is deleted, 1..3650'),
  slot_lifetime_seconds: z.int().min(10).max(86_400).default(300).describe('seconds a slot may wait for its PUT, 10..86400'),
  downloads: z
    .enum(['capability', 'recipients-only'])
    .default('capability')
    .describe('capability: the download URL alone fetches the file (what XEP-0363 clients expect); recipients-only: also the password of its uploader or of an account it was shared with (HTTP Basic)'),
  encrypted_archives: z
    .enum(['refuse', 'allow'])
    .default('refuse')
    .describe('zip archives with password-protected entries, which the virus scanner cannot look into: refuse them, or allow them'),
  idle_timeout_seconds: z.int().min(5).max(600).default(30).describe('an upload that sends nothing, or a download whose reader takes nothing, for this long is cut off, 5..600'),
  types: z
    .strictObject({
      refused: z.array(mediaType).max(1000).default(DEFAULT_REFUSED_TYPES).describe('media types refused, detected from the content or announced'),
      allowed: z
        .array(mediaType)
        .max(1000)
        .nullable()
        .default(null)
        .describe('null: every type not refused; a list: only these (detected from the content, else as announced)'),
    })
    .prefault({}),
  antivirus: z
    .strictObject({
      mode: z
        .enum(['external', 'managed'])
        .default('external')
        .describe("external: talk to a clamd at 'socket'; managed: start and supervise clamd with its own configuration in <data_dir>/clamd"),
      socket: z.string().min(1).max(107).default('/run/clamav/clamd.ctl').describe("clamd's local (Unix) socket (mode external)"),
      timeout_ms: z.int().min(100).max(600_000).default(30_000).describe('clamd connect and idle timeout, in ms'),
      on_unavailable: z
        .enum(['refuse', 'allow-unscanned'])
        .default('refuse')
        .describe('clamd unreachable: refuse uploads (fail closed), or store them unscanned'),
      managed: managedOptions,
    })
    .superRefine(checkManaged)
    .prefault({}),
});

function isDomain(s: string): boolean {
  const j = tryParseJID(s);
  return j !== undefined && j.local === '' && j.resource === '';
}

/** The service's domain: the configured subdomain, or upload.<host>. */
export function uploadDomain(subdomain: string | null, host: string): string {
  return parseJID(subdomain ?? `upload.${host}`).domain;
}

const PURGE_MS = 60 * 60 * 1000;
/** Below the carbons guard (1000), which refuses forged copies first; above archiving (100) and delivery (0). */
const SHARING_PRIORITY = 500;

export default defineModule({
  id: 'http-upload',
  description: 'HTTP file upload with virus scanning and encryption at rest (XEP-0363)',
  options,
  setup(ctx) {
    const opts = ctx.options;
    const domain = uploadDomain(opts.subdomain, ctx.host);
    const uploadsDir = join(ctx.dataDir, 'uploads');
    mkdirSync(uploadsDir, { recursive: true, mode: 0o700 });
    const av = opts.antivirus;
    const managed =
      av.mode === 'managed'
        ? new ManagedClamd({
            clamdPath: av.managed.clamd_path,
            databaseDir: av.managed.database_dir,
            dir: join(ctx.dataDir, 'clamd'),
            maxFileSize: opts.max_file_size,
            timeoutMs: av.timeout_ms,
            log: ctx.log,
            audit: ctx.storage.audit,
          })
        : undefined;
    const clamd = managed?.client ?? new Clamd(av.socket, av.timeout_ms);
    // Start-up does not wait for clamd: without it the server runs, and uploads are refused with a reason.
    if (managed) {
      managed.start();
      ctx.on('stopping', () => void managed.stop());
    } else {
      void clamd.ping().then((up) => {
        if (!up) ctx.log.warn({ socket: av.socket, on_unavailable: av.on_unavailable }, 'clamd does not answer; uploads are refused until it does');
      });
    }
    const store = new UploadStore(ctx.storage.db as unknown as Kysely<UploadTables>);
    const service = new UploadService({
      store,
      clamd,
      serverKey: loadServerKey(join(ctx.dataDir, 'http-upload.key')),
      uploadsDir,
      limits: {
        maxFileSize: opts.max_file_size,
        dailyQuota: opts.daily_quota,
        expireMs: opts.expire_after_days * 24 * 60 * 60 * 1000,
        slotTtlMs: opts.slot_lifetime_seconds * 1000,
        idleMs: opts.idle_timeout_seconds * 1000,
        refusedTypes: new Set(opts.types.refused),
        allowedTypes: opts.types.allowed && new Set(opts.types.allowed),
        onScannerUnavailable: opts.antivirus.on_unavailable,
        encryptedArchives: opts.encrypted_archives,
      },
      downloadAuth: opts.downloads === 'recipients-only' ? new DownloadAuth(ctx.use<PasswordLogin>(PASSWORD_LOGIN_SERVICE), ctx.host) : undefined,
      publicUrl: (path) => ctx.publicUrl(path),
      audit: ctx.storage.audit,
      log: ctx.log,
    });

    const reply = (iq: Element, route: RouteContext, payload?: Element) =>
      ctx.send(componentResult(iq, route, payload));
    ctx.component(domain, opts.name, async (stanza, route) => {
      const type = stanza.attrs.type;
      // Errors and results are never answered (RFC 6120 §8.3.1); messages and presence have nothing to do here.
      if (stanza.name !== 'iq' || type === 'error' || type === 'result') return;
      if (route.to.local !== '' || route.to.resource !== '') throw new StanzaError('service-unavailable');
      const payload = stanza.elements[0];
      const key = `${type} ${payload?.ns} ${payload?.name}`;
      if (key === `get ${NS.discoInfo} query` && payload!.attrs.node === undefined) {
        return reply(stanza, route, discoInfo(opts.name, opts.max_file_size));
      }
      if (key === `get ${NS.discoItems} query` && payload!.attrs.node === undefined) return reply(stanza, route, x('query', { xmlns: NS.discoItems }));
      if (key === `get ${NS.ping} ping`) return reply(stanza, route);
      if (key === `get ${NS_UPLOAD} request`) {
        // Only this server's own accounts get slots.
        if (route.origin === undefined || route.from.domain !== ctx.host) throw new StanzaError('forbidden', 'Only accounts of this server may upload here.');
        return reply(stanza, route, await service.requestSlot(payload!, route.from));
      }
      throw new StanzaError('service-unavailable');
    });

    // The listener starts after the modules: its origin is known from the first stanza on.
    const sharing = new Sharing(store, ctx.host, () => ctx.publicUrl('/upload/'));
    // A message linking to an upload is a file transfer: rules on file-transfer (e.g. with peer: non-contacts) decide it.
    ctx.classify((req, stanza) => {
      if (stanza.name === 'message' && sharing.tokens(stanza).length > 0) (req.facts ??= {})[featureFact('file-transfer')] = true;
    });
    // After the decision, before delivery, offline storage and archiving: the recipient may download once it has the link.
    for (const event of ['message/bare', 'message/full', 'message/component'] as const) {
      ctx.hook(event, async (stanza, route) => (await sharing.record(stanza, route), false), SHARING_PRIORITY);
    }

    ctx.http({ method: 'PUT', url: '/upload/:token/:name', handler: (req, res) => service.put(req, res.headers(CORS)) });
    ctx.http({ method: 'GET', url: '/upload/:token/:name', handler: (req, res) => service.get(req, res.headers(CORS)) });
    // The CORS preflight of a web client on another origin (its PUT has a Content-Type; ranges and credentials are headers too).
    ctx.http({ method: 'OPTIONS', url: '/upload/:token/:name', handler: async (_req, res) => res.code(204).headers({ ...CORS, ...CORS_PREFLIGHT }).send() });
    ctx.every(PURGE_MS, () => {
      service.purge().catch((err: unknown) => ctx.log.error({ err }, 'purging expired uploads failed'));
    });
  },
});

/**
 * CORS, for web clients served from another origin (a Converse.js or Movim on
 * its own host): any origin may use a slot's URLs, which are the capability
 * themselves; no cookies are involved, so '*' gives a page nothing its URL did
 * not. Credentials for recipients-only downloads are a header the page sets
 * (Authorization), allowed by the preflight.
 */
const CORS = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'Content-Range, Accept-Ranges, ETag, Content-Disposition' };
const CORS_PREFLIGHT = {
  'access-control-allow-methods': 'GET, HEAD, PUT, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Content-Length, Range, If-Range, Authorization',
  'access-control-max-age': '86400',
};

/** XEP-0363 §3: identity store/file, the feature, and the max-file-size form (XEP-0128). */
function discoInfo(name: string, maxFileSize: number): Element {
  const query = x('query', { xmlns: NS.discoInfo }, x('identity', { category: 'store', type: 'file', name }));
  for (const f of [NS.discoInfo, NS.discoItems, NS.ping, NS_UPLOAD].sort()) query.c('feature', { var: f });
  query.append(
    x(
      'x',
      { xmlns: 'jabber:x:data', type: 'result' },
      x('field', { var: 'FORM_TYPE', type: 'hidden' }, x('value', {}, NS_UPLOAD)),
      x('field', { var: 'max-file-size' }, x('value', {}, String(maxFileSize))),
    ),
  );
  return query;
}
