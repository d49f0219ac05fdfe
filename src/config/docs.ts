// Renders a schema under schemas/ as a Markdown reference, so the docs cannot drift from it.
import { describeSchema, type JsonSchema } from './schema.js';

export function renderSchemaDocs(schema: JsonSchema, title = 'Experiment file reference'): string {
  const out = [
    `# ${title}`,
    '',
    `Generated from \`schemas/experiment.schema.json\` by \`npm run docs\`; do not edit by hand.`,
    '',
    schema.description ?? '',
    '',
  ];
  const top = Object.entries(schema.properties ?? {});
  out.push(...table(top.filter(([, s]) => !s.properties), []));
  for (const [key, sub] of top.filter(([, s]) => s.properties)) out.push(...section(key, sub));
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

function section(path: string, s: JsonSchema): string[] {
  const entries = Object.entries(s.properties ?? {});
  const lines = [`## \`${path}\``, '', s.description ?? '', ''];
  lines.push(...table(entries.filter(([, sub]) => !sub.properties), path.split('.')));
  for (const [k, sub] of entries.filter(([, v]) => v.properties)) lines.push(...section(`${path}.${k}`, sub));
  return lines;
}

function table(entries: [string, JsonSchema][], prefix: string[]): string[] {
  if (entries.length === 0) return [];
  const rows = entries.map(([k, s]) => {
    const key = [...prefix, k].join('.');
    return `| \`${key}\` | ${cell(describeSchema(s))} | \`${JSON.stringify(s.default)}\` | ${cell(s.description ?? '')} |`;
  });
  return ['| key | expects | default | meaning |', '|---|---|---|---|', ...rows, ''];
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
