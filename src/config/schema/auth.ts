import { z } from 'zod';
import { distinctList } from './common.ts';

export const auth = z
  .strictObject({
    scram_hashes: distinctList(['SHA-1', 'SHA-256', 'SHA-512'])
      .min(1)
      .default(['SHA-1', 'SHA-256', 'SHA-512'])
      .describe('SCRAM keys stored for new passwords (SHA-1, SHA-256, SHA-512); each enables its SASL mechanism'),
    scram_iterations: z.int().min(4096).max(10_000_000).default(10_000).describe('PBKDF2 iterations for new SCRAM keys, 4096..10000000'),
    channel_bindings: distinctList(['tls-exporter', 'tls-server-end-point'])
      .default(['tls-exporter', 'tls-server-end-point'])
      .describe('channel bindings offered with SCRAM-*-PLUS (tls-exporter, tls-server-end-point); [] = none'),
    channel_binding_downgrade: z
      .enum(['refuse', 'allow'])
      .default('refuse')
      .describe("'refuse': a client that says it could bind but saw no -PLUS (gs2 flag y) is refused as a stripping attack (RFC 5802); 'allow': accept it, for clients that only know tls-unique"),
    allow_plain: z.boolean().default(false).describe('offer SASL PLAIN (only ever over TLS)'),
    lockout_failures: z.int().min(1).max(1000).default(10).describe('failed logins of one account within lockout_window that lock it, 1..1000'),
    lockout_window: z.int().min(1).max(86_400).default(900).describe('seconds over which failed logins are counted, 1..86400'),
    lockout_duration: z.int().min(1).max(31_536_000).default(900).describe('seconds an account stays locked (palisade user unlock ends it early), 1..31536000'),
    failure_delay_max: z.number().min(0).max(60).default(8).describe('longest delay, in seconds, before answering a failed login (it doubles with each failure per account and per address), 0..60'),
    sasl2: z
      .boolean()
      .default(true)
      .describe('offer SASL2 (XEP-0388) with Bind 2 (XEP-0386) next to SASL; needed for FAST. Clients that speak it get a server-chosen resource (tag/id) instead of the one they ask for'),
    fast: z
      .strictObject({
        enabled: z.boolean().default(true).describe('offer FAST token logins (XEP-0484) when sasl2 is on'),
        token_lifetime_days: z
          .int()
          .min(1)
          .max(365)
          .default(14)
          .describe('days a FAST token stays valid, 1..365; a token past half its life is replaced when used, so only a client idle this long has to log in with its password again'),
        max_clients_per_account: z
          .int()
          .min(1)
          .max(1000)
          .default(50)
          .describe('clients (SASL2 user-agent ids) of one account that may hold tokens, 1..1000; past it the one unused longest loses them'),
      })
      .prefault({})
      .describe('FAST tokens (XEP-0484)'),
    negotiation_timeout: z.int().min(1).max(600).default(30).describe('seconds from connect until a resource must be bound, 1..600'),
  })
  .prefault({})
  .describe('authentication');
