// Forwarding of the audit log to a syslog collector (docs/policy.md "Syslog"):
// each entry the server appends becomes one RFC 5424 message with the entry's
// fields as structured data, sent over UDP (RFC 5426, one message per
// datagram) or TCP/TLS (RFC 6587 octet counting; RFC 5425 for TLS). Sending
// never blocks the caller: entries wait in a bounded queue, the oldest dropped
// (counted, logged) while the collector is away, and the connection is retried
// with backoff. The local hash-chained log stays the authoritative copy.
// Audit entries carry no message content (rule texts, addresses, detector
// names); the forwarder sends only what the entry holds.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import type { AuditEntry } from '../storage/types.ts';

export const SYSLOG_FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'security', 'console', 'solaris-cron',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
] as const;
export type SyslogFacility = (typeof SYSLOG_FACILITIES)[number];

export interface SyslogOptions {
  /** null: forwarding is off. */
  host: string | null;
  port: number;
  protocol: 'udp' | 'tcp' | 'tls';
  facility: SyslogFacility;
  app_name: string;
  /** Entries kept while the collector is away; beyond, the oldest are dropped. */
  queue_max: number;
  /** PEM file of the CA that signed the collector's certificate (tls); null = the system's CAs. */
  ca_file: string | null;
}

/** The SD-ID of the entry's fields: a name under the example enterprise number of RFC 5612 (no number is registered for Palisade). */
export const SD_ID = 'palisade-audit@32473';
const MAX_PARAM_VALUE = 512;
const MAX_MSG = 2000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** Bytes handed to a TCP socket but not yet sent, beyond which entries wait in the queue (where the bound applies). */
const MAX_UNSENT_BYTES = 256 * 1024;

const SEVERITY = { alert: 1, warning: 4, notice: 5, info: 6 } as const;

/**
 * One RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG.
 * The severity is warning for a refusal, alert for a content alert, notice
 * for a redaction, informational otherwise.
 */
export function formatSyslog(entry: AuditEntry, opts: { facility: SyslogFacility; appName: string; hostname?: string; pid?: number }): string {
  const facility = SYSLOG_FACILITIES.indexOf(opts.facility);
  const pri = facility * 8 + severityOf(entry);
  const host = header(opts.hostname ?? hostname(), 255);
  const msgid = header(entry.action, 32);
  const params: [string, unknown][] = [
    ['seq', entry.seq],
    ['actor', entry.actor],
    ['action', entry.action],
    ['decision', entry.decision],
    ['hash', entry.hash],
    ...Object.entries(entry.details),
  ];
  const seen = new Set<string>();
  const sd = params
    .map(([k, v]) => [paramName(k), v] as const)
    .filter(([k, v]) => v !== undefined && v !== null && k !== '' && !seen.has(k) && seen.add(k))
    .map(([k, v]) => `${k}="${paramValue(typeof v === 'string' ? v : JSON.stringify(v))}"`)
    .join(' ');
  const msg = entry.reason.length > MAX_MSG ? `${entry.reason.slice(0, MAX_MSG)}…` : entry.reason;
  // The BOM says MSG is UTF-8 (RFC 5424 §6.4).
  return `<${pri}>1 ${entry.ts.toISOString()} ${host} ${header(opts.appName, 48)} ${opts.pid ?? process.pid} ${msgid} [${SD_ID} ${sd}] \uFEFF${msg}`;
}

function severityOf(e: AuditEntry): number {
  if (e.details.severity === 'alert') return SEVERITY.alert;
  if (e.decision === 'deny') return SEVERITY.warning;
  if (e.details.severity === 'notice') return SEVERITY.notice;
  return SEVERITY.info;
}

/** A header field: printable US-ASCII without spaces, at most `max` characters; '-' when empty. */
function header(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** SD-NAME: printable US-ASCII except '=', space, ']' and '"', at most 32. */
function paramName(s: string): string {
  return s.replace(/[^\x21-\x7e]|[= \]"]/g, '_').slice(0, 32);
}

/** PARAM-VALUE: UTF-8 with '"', '\' and ']' escaped (RFC 5424 §6.3.3); long values shortened. */
function paramValue(s: string): string {
  const short = s.length > MAX_PARAM_VALUE ? `${s.slice(0, MAX_PARAM_VALUE)}…` : s;
  return short.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** RFC 6587 §3.4.1 octet counting: the length in bytes, a space, the message. */
export function octetFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

export interface ForwarderStats {
  sent: number;
  dropped: number;
  queued: number;
  connected: boolean;
}

export class SyslogForwarder {
  private readonly opts: SyslogOptions & { host: string };
  private readonly log: Logger | undefined;
  private readonly ca: Buffer | undefined;
  private readonly queue: string[] = [];
  private tcp: Socket | undefined;
  private udp: UdpSocket | undefined;
  private ready = false;
  private backoff = BACKOFF_MIN_MS;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private down = false;
  private sent = 0;
  private dropped = 0;
  private droppedThisOutage = 0;

  constructor(opts: SyslogOptions & { host: string }, baseDir: string, log?: Logger) {
    this.opts = opts;
    this.log = log;
    this.ca = opts.ca_file === null ? undefined : readFileSync(resolve(baseDir, opts.ca_file));
    this.connect();
  }

  /** Queues an entry for the collector; never blocks and never throws. */
  forward(entry: AuditEntry): void {
    if (this.closed) return;
    if (this.queue.length >= this.opts.queue_max) {
      this.queue.shift();
      this.dropped++;
      if (this.droppedThisOutage++ === 0) {
        this.log?.warn({ collector: this.target(), queue_max: this.opts.queue_max }, 'syslog queue full: dropping the oldest audit entries until the collector is back (the local audit log keeps them)');
      }
    }
    this.queue.push(formatSyslog(entry, { facility: this.opts.facility, appName: this.opts.app_name }));
    this.pump();
  }

  stats(): ForwarderStats {
    return { sent: this.sent, dropped: this.dropped, queued: this.queue.length, connected: this.ready };
  }

  /** Stops; what is still queued is given up (it is in the local log). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.tcp?.end();
    this.tcp = undefined;
    this.udp?.close();
    this.udp = undefined;
    this.ready = false;
  }

  private target(): string {
    return `${this.opts.protocol}://${this.opts.host}:${this.opts.port}`;
  }

  private connect(): void {
    if (this.closed) return;
    if (this.opts.protocol === 'udp') return this.connectUdp();
    const { host, port } = this.opts;
    const socket =
      this.opts.protocol === 'tls'
        ? tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ca: this.ca, minVersion: 'TLSv1.2' })
        : netConnect({ host, port });
    this.tcp = socket;
    socket.setNoDelay(true);
    socket.on(this.opts.protocol === 'tls' ? 'secureConnect' : 'connect', () => {
      if (this.tcp !== socket) return;
      this.connected();
    });
    socket.on('drain', () => this.pump());
    // The collector sends nothing back (RFC 6587); anything it sends is ignored.
    socket.on('data', () => undefined);
    socket.on('error', (err) => this.lost(socket, err));
    socket.on('close', () => this.lost(socket, undefined));
  }

  private connectUdp(): void {
    const socket = createSocket(this.opts.host.includes(':') ? 'udp6' : 'udp4');
    this.udp = socket;
    socket.on('error', (err) => this.lost(socket, err));
    socket.connect(this.opts.port, this.opts.host, () => {
      if (this.udp === socket) this.connected();
    });
  }

  private connected(): void {
    this.ready = true;
    this.backoff = BACKOFF_MIN_MS;
    if (this.down) {
      this.log?.info({ collector: this.target(), dropped: this.droppedThisOutage, queued: this.queue.length }, 'syslog collector reachable again');
    }
    this.down = false;
    this.droppedThisOutage = 0;
    this.pump();
  }

  private lost(socket: Socket | UdpSocket, err: Error | undefined): void {
    if (this.tcp !== socket && this.udp !== socket) return;
    this.tcp = undefined;
    this.udp = undefined;
    this.ready = false;
    if (this.closed) return;
    if (!this.down) {
      this.down = true;
      this.log?.warn({ collector: this.target(), err: err?.message, retry_ms: this.backoff }, 'syslog collector unreachable: audit entries are queued and retried (the local audit log keeps them)');
    }
    if ('destroy' in socket) socket.destroy();
    else {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
    this.timer = setTimeout(() => this.connect(), this.backoff);
    this.timer.unref();
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
  }

  private pump(): void {
    if (!this.ready) return;
    if (this.udp) {
      const socket = this.udp;
      while (this.queue.length > 0) {
        // One message per datagram; a send error (e.g. ICMP port unreachable) surfaces as 'error'.
        socket.send(Buffer.from(this.queue.shift()!, 'utf8'), (err) => {
          if (!err) this.sent++;
        });
      }
      return;
    }
    const socket = this.tcp;
    if (!socket) return;
    while (this.queue.length > 0 && socket.writableLength < MAX_UNSENT_BYTES) {
      socket.write(octetFrame(this.queue.shift()!));
      this.sent++;
    }
  }
}
