// Child process for the contract's multi-process tests.
// argv: <storage config as JSON> <number of appends, or "forever"> <actor>
// With "forever" it appends one entry at a time and prints each acknowledged
// seq on its own line until it is killed.
import { openStorage } from '../index.ts';
import type { StorageConfig } from '../types.ts';

const [cfgJson, countArg, actor = 'worker'] = process.argv.slice(2);
const s = await openStorage(JSON.parse(cfgJson ?? '') as StorageConfig);
const append = (i: number) => s.audit.append({ actor, action: 'test.append', decision: 'info', reason: `append ${i}` });
if (countArg === 'forever') {
  for (let i = 0; ; i++) process.stdout.write(`${(await append(i)).seq}\n`);
} else {
  try {
    await Promise.all(Array.from({ length: Number(countArg) }, (_, i) => append(i)));
  } finally {
    await s.close();
  }
}
