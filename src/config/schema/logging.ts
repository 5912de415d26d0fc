import { z } from 'zod';

export const logging = z
  .strictObject({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('least severe level written: fatal, error, warn, info, debug, trace or silent'),
  })
  .prefault({})
  .describe('logs (JSON lines on stdout)');
