// Entry point of the `pxl` command line.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
console.log(`pxl ${pkg.version}`);
