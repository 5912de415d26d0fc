// Personal eventing (XEP-0163) nodes and items. Being built.
import type { Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(_db: Kysely<unknown>, _backend: Backend): Promise<void> {}
