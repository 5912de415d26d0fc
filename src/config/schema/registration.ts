import { z } from 'zod';

// In-band registration (XEP-0077) does not exist here: accounts come from the
// administrator (`palisade user add`) or from an invitation they created.
export const registration = z
  .strictObject({
    invitations: z.boolean().default(true).describe('serve the page that redeems invitations (https://<host>/invite/<token>); invitations are only ever made by `palisade invite create`'),
    password_min_length: z.int().min(8).max(128).default(12).describe('fewest characters of a password chosen on the invitation page, 8..128'),
    redeem_attempts_per_minute: z.int().min(1).max(10_000).default(10).describe('requests to the invitation page allowed from one IP address per minute (also the burst), 1..10000'),
  })
  .prefault({})
  .describe('self-service account creation (invitations only)');
