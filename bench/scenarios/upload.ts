// Upload + scan throughput (`npm run bench -- --only upload`): a 10 MB file
// through a spawned Palisade — slot request over XMPP, PUT over HTTPS, until
// the PUT's 201, which comes after clamd's verdict and the encrypted write —
// against clamd's own INSTREAM scan of a file of the same size on the same
// clamd (the one Palisade manages, antivirus.mode: managed). The signature
// database is the system's (/var/lib/clamav) when it has one, else the
// EICAR-only test database; the result says which, as scan cost depends on it.
// Every measurement sends fresh random bytes: clamd caches the hashes of clean
// files, so a repeat of the same bytes would measure the cache.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import YAML from 'yaml';
import { hasSignatures } from '../../src/modules/http-upload/clamd-managed.ts';
import { writeEicarDatabase } from '../../test/helpers/clamd.ts';
import { XmppConnection } from '../loadgen/connection.ts';
import { ScramKeyCache } from '../loadgen/scram.ts';
import { palisade } from '../targets/palisade.ts';
import { cpuSecondsBetween, freePorts, machineCpuSeconds, RunningServer } from '../targets/server.ts';
import type { ServerSetup } from '../targets/target.ts';

const DOMAIN = 'bench.test';
const SERVICE = `upload.${DOMAIN}`;
const PASSWORD = 'bench-password-0123';
const UP = 'urn:xmpp:http:upload:0';
const SYSTEM_DATABASE = '/var/lib/clamav';
/** 10 MB, in SI units like the MB/s figures. */
export const UPLOAD_BYTES = 10_000_000;
const MB = 1_000_000;
const CHUNK = 64 * 1024;
/** clamd loading a full system database takes tens of seconds; the test database about one. */
const SCANNER_READY_MS = 180_000;
const STEP_TIMEOUT_MS = 60_000;

export interface UploadResult {
  figures: Record<string, number>;
  /** Which signature database clamd used, in words. */
  database: string;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS))),
  ]);
}

/** iq replies by id from a logged-in session's raw text (the load generator's session has no parser). */
class IqSession {
  private text = '';
  private next = 0;
  private readonly waiting = new Map<string, (reply: string) => void>();

  constructor(private readonly conn: XmppConnection) {
    conn.takeOver(
      (chunk) => {
        this.text += chunk;
        for (const [id, resolve] of this.waiting) {
          const m = new RegExp(`<iq\\b[^>]*\\bid=['"]${id}['"][^>]*?(?:/>|>[\\s\\S]*?</iq>)`).exec(this.text);
          if (!m) continue;
          this.waiting.delete(id);
          this.text = this.text.slice(m.index + m[0].length);
          resolve(m[0]);
        }
      },
      () => undefined,
    );
  }

  /** A slot for `size` bytes: the PUT URL, or the refusal's text. */
  async slot(size: number): Promise<{ put: string } | { refused: string }> {
    const id = `up${++this.next}`;
    const reply = withTimeout(new Promise<string>((resolve) => this.waiting.set(id, resolve)), 'slot request');
    this.conn.send(`<iq type='get' id='${id}' to='${SERVICE}'><request xmlns='${UP}' filename='bench.bin' size='${size}' content-type='application/octet-stream'/></iq>`);
    const iq = await reply;
    const put = /<put\b[^>]*\burl=['"]([^'"]+)['"]/.exec(iq);
    return put ? { put: put[1]!.replace(/&amp;/g, '&') } : { refused: iq.slice(0, 500) };
  }

  close(): void {
    this.conn.close();
  }
}

function put(url: string, body: Buffer, ca: Buffer): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = request(
        {
          method: 'PUT',
          host: '127.0.0.1',
          port: u.port,
          path: u.pathname,
          servername: u.hostname,
          ca,
          agent: false,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    }),
    'PUT',
  );
}

/** clamd's own INSTREAM scan of `data` (the protocol in clamd(8)), in the chunk size Palisade's PUTs arrive in at most. */
function instream(socketPath: string, data: Buffer): Promise<string> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = connect(socketPath);
      let reply = '';
      socket.on('data', (d: Buffer) => (reply += d.toString('utf8')));
      socket.on('end', () => resolve(reply.replace(/\0.*$/s, '')));
      socket.on('error', reject);
      socket.on('connect', () => {
        socket.write('zINSTREAM\0');
        for (let at = 0; at < data.length; at += CHUNK) {
          const chunk = data.subarray(at, at + CHUNK);
          const header = Buffer.alloc(4);
          header.writeUInt32BE(chunk.length);
          socket.write(header);
          socket.write(chunk);
        }
        socket.write(Buffer.alloc(4));
      });
    }),
    'clamd INSTREAM',
  );
}

/** One Palisade (managed clamd) in `root`; `runs` timed uploads and scans after one untimed of each. */
export async function uploadThroughput(o: {
  root: string;
  certificate: ServerSetup['certificate'];
  iterations: number;
  runs: number;
  log: (line: string) => void;
}): Promise<UploadResult> {
  const dir = await mkdtemp(join(o.root, 'palisade-upload-'));
  try {
    const [starttls, directTls, https] = await freePorts(3);
    const setup: ServerSetup = {
      dir,
      domain: DOMAIN,
      ports: { starttls: starttls!, directTls: directTls!, https: https! },
      usernames: ['uploader'],
      password: PASSWORD,
      iterations: o.iterations,
      mechanism: undefined,
      certificate: o.certificate,
    };
    await palisade.prepare(setup);
    let databaseDir = SYSTEM_DATABASE;
    let database = `the system database in ${SYSTEM_DATABASE}`;
    if (!hasSignatures(SYSTEM_DATABASE)) {
      databaseDir = join(dir, 'clamdb');
      writeEicarDatabase(databaseDir);
      database = `the EICAR-only test database (1 signature; ${SYSTEM_DATABASE} has none, and freshclam cannot download offline): scan figures are a lower bound on real cost`;
    }
    o.log(`clamd database: ${database}`);
    const file = join(dir, 'palisade.yaml');
    const doc = YAML.parseDocument(await readFile(file, 'utf8'));
    doc.setIn(['modules', 'http-upload'], {
      max_file_size: 64 * 1024 * 1024,
      daily_quota: 2 ** 40,
      antivirus: { mode: 'managed', managed: { database_dir: databaseDir } },
    });
    await writeFile(file, doc.toString());

    const server = await RunningServer.start(palisade, setup);
    try {
      const ca = await readFile(o.certificate.cert);
      const conn = await XmppConnection.login({
        port: setup.ports.starttls,
        transport: 'starttls',
        domain: DOMAIN,
        username: 'uploader',
        password: PASSWORD,
        mechanism: undefined,
        keyCache: new ScramKeyCache(),
        timeoutMs: STEP_TIMEOUT_MS,
      });
      const session = new IqSession(conn);
      try {
        // Slots are refused (fail closed) until the managed clamd answers PING.
        const started = Date.now();
        let first = await session.slot(UPLOAD_BYTES);
        while ('refused' in first && Date.now() - started < SCANNER_READY_MS) {
          await new Promise((r) => setTimeout(r, 250));
          first = await session.slot(UPLOAD_BYTES);
        }
        if ('refused' in first) throw new Error(`no upload slot within ${SCANNER_READY_MS / 1000} s: ${first.refused}`);
        o.log(`clamd ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const socket = join(dir, 'data', 'clamd', 'clamd.sock');

        const uploadOnce = async (slot?: { put: string }): Promise<number> => {
          const data = randomBytes(UPLOAD_BYTES);
          const t0 = performance.now();
          const s = slot ?? (await session.slot(UPLOAD_BYTES));
          if ('refused' in s) throw new Error(`slot refused: ${String(s.refused)}`);
          const r = await put(s.put, data, ca);
          if (r.status !== 201) throw new Error(`PUT answered ${r.status}: ${r.text.trim()}`);
          return performance.now() - t0;
        };
        const scanOnce = async (): Promise<number> => {
          const data = randomBytes(UPLOAD_BYTES);
          const t0 = performance.now();
          const reply = await instream(socket, data);
          if (reply !== 'stream: OK') throw new Error(`clamd answered ${reply}`);
          return performance.now() - t0;
        };
        // Untimed warm-up of both paths (JIT, TLS session, clamd's threads); the first slot is the one that proved clamd ready.
        await uploadOnce(first);
        await scanOnce();
        const uploadMs: number[] = [];
        const scanMs: number[] = [];
        // CPU over the timed runs: the server's process tree (Palisade and its clamd), this process, and everything else.
        const [server0, machine0, loadgen0, wall0] = [server.cpuSnapshot(), machineCpuSeconds(), process.cpuUsage(), performance.now()];
        // CPU of the server's tree per path: a figure other load on the machine does not change much.
        let uploadCpu = 0;
        let scanCpu = 0;
        const cpuOf = async (fn: () => Promise<number>, into: number[]): Promise<number> => {
          const before = server.cpuSnapshot();
          into.push(await fn());
          return cpuSecondsBetween(before, server.cpuSnapshot());
        };
        // Interleaved, so a slow phase of the machine hits both alike.
        for (let i = 0; i < o.runs; i++) {
          uploadCpu += await cpuOf(() => uploadOnce(), uploadMs);
          scanCpu += await cpuOf(scanOnce, scanMs);
          o.log(`run ${i + 1}/${o.runs}: upload ${uploadMs.at(-1)!.toFixed(0)} ms, clamd alone ${scanMs.at(-1)!.toFixed(0)} ms`);
        }
        const seconds = (performance.now() - wall0) / 1000;
        const serverCpuSeconds = cpuSecondsBetween(server0, server.cpuSnapshot());
        const loadgen = process.cpuUsage(loadgen0);
        const loadgenCpuSeconds = (loadgen.user + loadgen.system) / 1e6;
        const otherCpuSeconds = Math.max(0, machineCpuSeconds() - machine0 - serverCpuSeconds - loadgenCpuSeconds);
        const palisadeMBps = UPLOAD_BYTES / MB / (median(uploadMs) / 1000);
        const clamdMBps = UPLOAD_BYTES / MB / (median(scanMs) / 1000);
        return {
          database,
          figures: {
            palisadeMBps,
            clamdMBps,
            ratio: palisadeMBps / clamdMBps,
            palisadeMBPerServerCpuSecond: (o.runs * UPLOAD_BYTES) / MB / uploadCpu,
            clamdMBPerServerCpuSecond: (o.runs * UPLOAD_BYTES) / MB / scanCpu,
            uploadMsP50: median(uploadMs),
            uploadMsMax: Math.max(...uploadMs),
            scanMsP50: median(scanMs),
            scanMsMax: Math.max(...scanMs),
            fileMB: UPLOAD_BYTES / MB,
            runs: o.runs,
            serverCpuSeconds,
            loadgenCpuSeconds,
            otherCpuSeconds,
            seconds,
            systemDatabase: databaseDir === SYSTEM_DATABASE ? 1 : 0,
          },
        };
      } finally {
        session.close();
      }
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
