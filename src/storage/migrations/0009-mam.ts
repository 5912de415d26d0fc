// Message archive (XEP-0313). Being built.
import type { Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(_db: Kysely<unknown>, _backend: Backend): Promise<void> {}
