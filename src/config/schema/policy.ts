import { z } from 'zod';
import { filePath } from './common.ts';

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
  })
  .prefault({})
  .describe('organisation policy, groups and the audit log (docs/policy.md)');
