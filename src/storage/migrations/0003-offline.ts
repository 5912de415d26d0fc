import type { Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(_db: Kysely<any>, _backend: Backend): Promise<void> {}
