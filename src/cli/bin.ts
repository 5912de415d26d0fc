// Entry point of the `palisade` command.
import { main } from './main.ts';

const code = await main(process.argv);
// 'start' keeps running until a signal; every other command ends with its code.
process.exitCode = code;
