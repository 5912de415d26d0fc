import { z } from 'zod';
import { filePath } from './common.ts';
import { SYSLOG_FACILITIES } from '../../policy/syslog.ts';

// The organisation's policy lives in its own file (docs/policy.md); this
// section says where, and how the server picks up changes and seals the audit log.
export const policy = z
  .strictObject({
    file: filePath()
      .nullable()
      .default(null)
      .describe('policy file (docs/policy.md), relative to this file; null = policy.yaml next to this file if there is one, else the built-in policy'),
    reload_poll_ms: z
      .int()
      .min(100)
      .max(60_000)
      .default(1000)
      .describe("how often the server looks for a reload request written by 'palisade policy reload' or 'palisade group', in milliseconds, 100..60000"),
    audit_checkpoint_every: z
      .int()
      .min(1)
      .max(1_000_000)
      .default(100)
      .describe('audit log entries between two signed checkpoints, 1..1000000'),
    audit_syslog: z
      .strictObject({
        host: z.string().min(1).max(253).nullable().default(null).describe('syslog collector (host name or IP address) that gets a copy of every audit entry (RFC 5424); null = no forwarding'),
        port: z.int().min(1).max(65535).default(6514).describe("the collector's port, 1..65535 (6514 for tls, 514 for udp and tcp, usually)"),
        protocol: z.enum(['udp', 'tcp', 'tls']).default('tls').describe('udp (RFC 5426), tcp (RFC 6587 octet counting) or tls (RFC 5425)'),
        facility: z.enum(SYSLOG_FACILITIES).default('authpriv').describe('syslog facility of the messages'),
        app_name: z.string().regex(/^[\x21-\x7e]{1,48}$/, { error: 'is 1 to 48 printable ASCII characters without spaces' }).default('palisade').describe('APP-NAME of the messages'),
        queue_max: z.int().min(1).max(1_000_000).default(10_000).describe('entries kept while the collector is unreachable, 1..1000000; beyond, the oldest are dropped (the local log keeps them)'),
        ca_file: filePath().nullable().default(null).describe("PEM file of the CA of the collector's certificate (tls), relative to this file; null = the system's CAs"),
      })
      .prefault({})
      .describe('forwarding of the audit log to a syslog collector (docs/policy.md "Syslog")'),
  })
  .prefault({})
  .describe('organisation policy, groups and the audit log (docs/policy.md)');
