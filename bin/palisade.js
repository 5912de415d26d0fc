#!/usr/bin/env node
// Runs the TypeScript sources through Palisade's own loader (ts-loader.js), so an install needs no build step.
import './ts-loader.js';

await import('../src/cli/bin.ts');
