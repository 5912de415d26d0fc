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
    negotiation_timeout: z.int().min(1).max(600).default(30).describe('seconds from connect until a resource must be bound, 1..600'),
  })
  .prefault({})
  .describe('authentication');
