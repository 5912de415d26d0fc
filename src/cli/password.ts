// Reading a password without it ever being an argument: a hidden prompt on a
// terminal, or the first line of standard input for scripts.
import { createInterface } from 'node:readline';

export class PasswordInputError extends Error {}

async function readFirstLineOfStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (Buffer.concat(chunks).includes(0x0a) || size > 64 * 1024) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line;
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    // Echo nothing of what is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stderr.write(question);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

export async function readPassword(opts: { fromStdin: boolean; confirm: boolean }): Promise<string> {
  if (opts.fromStdin) {
    const password = await readFirstLineOfStdin();
    if (!password) throw new PasswordInputError('no password on standard input');
    return password;
  }
  if (!process.stdin.isTTY) throw new PasswordInputError('standard input is not a terminal: pass --password-stdin and pipe the password in');
  const first = await promptHidden('Password: ');
  if (opts.confirm && (await promptHidden('Repeat password: ')) !== first) throw new PasswordInputError('the passwords do not match');
  return first;
}
