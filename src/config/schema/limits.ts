import { z } from 'zod';

export const limits = z
  .strictObject({
    max_stanza_bytes: z.int().min(1024).max(16_777_216).default(262_144).describe('largest stanza accepted, in bytes, 1024..16777216'),
    max_depth: z.int().min(4).max(256).default(32).describe('deepest element nesting in a stanza, 4..256'),
    max_attributes: z.int().min(4).max(1024).default(64).describe('most attributes on one element, 4..1024'),
    max_attribute_bytes: z.int().min(64).max(1_048_576).default(8192).describe('longest attribute value, in bytes, 64..1048576'),
    max_name_bytes: z.int().min(16).max(4096).default(256).describe('longest element or attribute name, in bytes, 16..4096'),
    header_timeout: z.int().min(1).max(300).default(10).describe('seconds a new connection has to send its stream header, 1..300'),
  })
  .prefault({})
  .describe('limits on what a peer may send; exceeding one closes the stream');
