// Throughput of the restricted XML stream parser on small chat messages, next
// to bare saxes on the same bytes (the floor our checks and tree building add to).
// Run: node --import ./bin/ts-loader.js bench/xml-parse.ts
import { SaxesParser } from 'saxes';
import { XmlStreamParser } from '../src/net/xml-stream.ts';

const STANZAS = 500_000;
const CHUNK = 65536;
const HEADER = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";
const message = (i: number) =>
  `<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='m${i}' xml:lang='en'><body>Art thou not Romeo, and a Montague? ${i}</body></message>`;

const input = Buffer.from(HEADER + Array.from({ length: STANZAS }, (_, i) => message(i)).join(''));
const chunks: Buffer[] = [];
for (let i = 0; i < input.length; i += CHUNK) chunks.push(input.subarray(i, i + CHUNK));

function palisade(): number {
  let count = 0;
  const parser = new XmlStreamParser({
    streamStart: () => undefined,
    stanza: () => count++,
    streamEnd: () => undefined,
    error: (condition, text) => {
      throw new Error(`${condition}: ${text}`);
    },
  });
  for (const c of chunks) parser.write(c);
  return count;
}

function bareSaxes(): number {
  let count = 0;
  let depth = 0;
  const sax = new SaxesParser({ xmlns: true });
  sax.on('opentag', () => depth++);
  sax.on('closetag', () => {
    if (--depth === 1) count++;
  });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const c of chunks) sax.write(decoder.decode(c, { stream: true }));
  return count;
}

function measure(name: string, fn: () => number): void {
  fn(); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    const n = fn();
    if (n !== STANZAS) throw new Error(`${name}: parsed ${n} of ${STANZAS}`);
    runs.push(STANZAS / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  runs.sort((a, b) => a - b);
  const median = runs[2]!;
  console.log(`${name.padEnd(10)} ${Math.round(median).toLocaleString('en')} stanzas/s  ${((median * input.length) / STANZAS / 1e6).toFixed(0)} MB/s`);
}

console.log(`${STANZAS} messages of ~${Math.round(input.length / STANZAS)} bytes, ${CHUNK}-byte chunks (median of 5)`);
measure('saxes', bareSaxes);
measure('palisade', palisade);
