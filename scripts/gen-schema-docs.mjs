#!/usr/bin/env node
// Writes docs/experiment-reference.md from schemas/experiment.schema.json (run `npm run build` first).
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadSchema } from '../dist/config/schema.js';
import { renderSchemaDocs } from '../dist/config/docs.js';

mkdirSync(new URL('../docs/', import.meta.url), { recursive: true });
writeFileSync(new URL('../docs/experiment-reference.md', import.meta.url), renderSchemaDocs(loadSchema('experiment.schema.json')));
console.log('wrote docs/experiment-reference.md');
