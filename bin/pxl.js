#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/ into dist/ by `npm install` (prepare) or `npm run build`.
import '../dist/cli/main.js';
