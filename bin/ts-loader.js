// `node --import ./bin/ts-loader.js file.ts`: runs Palisade's TypeScript
// sources without a build step (see ts-hooks.js for why not tsx).
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./ts-hooks.js', import.meta.url);
