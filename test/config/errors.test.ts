// Every kind of bad experiment input yields a located, readable error: FILE:LINE:COL, key path, expectation.
import { spawnSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/diagnostics.js';
import { loadExperiment } from '../../src/config/load.js';
import { tempDir, writeFiles } from '../helpers/tmp.js';

interface Expected {
  at: string; // "file.yaml:LINE:COL" (file by base name) or "--set:COL"
  path?: string;
  says: (string | RegExp)[];
}

interface Case {
  name: string;
  files: Record<string, string>;
  sets?: string[];
  errors: Expected[];
}

const CASES: Case[] = [
  {
    name: 'YAML syntax error: unclosed flow list',
    files: { 'x.yaml': 'model:\n  hidden: [1, 2\nseed: 1\n' },
    errors: [{ at: 'x.yaml:3:1', says: ['YAML syntax error'] }],
  },
  {
    name: 'YAML syntax error: a tab in the indentation',
    files: { 'x.yaml': 'model:\n\thidden: 4\n' },
    errors: [{ at: 'x.yaml:2:1', says: ['YAML syntax error', /tab/i] }],
  },
  {
    name: 'duplicate key',
    files: { 'x.yaml': 'seed: 1\nseed: 2\n' },
    errors: [{ at: 'x.yaml:2:1', says: ['YAML syntax error', /unique/i] }],
  },
  {
    name: 'top level is not a map',
    files: { 'x.yaml': '- 1\n- 2\n' },
    errors: [{ at: 'x.yaml:1:1', says: ['expected a map of settings at the top level', 'found a list of 2'] }],
  },
  {
    name: 'typo in a top-level key',
    files: { 'x.yaml': 'seeed: 3\n' },
    errors: [{ at: 'x.yaml:1:1', path: 'seeed', says: ['unknown key "seeed"', 'did you mean "seed"?'] }],
  },
  {
    name: 'typo in a nested key',
    files: { 'x.yaml': 'model:\n  hiden: 64\n' },
    errors: [{ at: 'x.yaml:2:3', path: 'model.hiden', says: ['unknown key "hiden"', 'did you mean "hidden"?'] }],
  },
  {
    name: 'key in the wrong section',
    files: { 'x.yaml': 'train:\n  hidden: 64\n' },
    errors: [{ at: 'x.yaml:2:3', path: 'train.hidden', says: ['did you mean model.hidden?'] }],
  },
  {
    name: 'unknown key with no close match lists the allowed keys',
    files: { 'x.yaml': 'sample:\n  zzzzzzzz: 1\n' },
    errors: [{ at: 'x.yaml:2:3', path: 'sample.zzzzzzzz', says: ['allowed under sample: count, columns, classes, method, temperature, seed'] }],
  },
  {
    name: 'wrong type: string for an integer',
    files: { 'x.yaml': 'model:\n  hidden: wide\n' },
    errors: [{ at: 'x.yaml:2:11', path: 'model.hidden', says: ['expected an integer from 1 to 4096', 'found the string "wide"'] }],
  },
  {
    name: 'wrong type: a float for an integer',
    files: { 'x.yaml': 'train:\n  batch_size: 12.5\n' },
    errors: [{ at: 'x.yaml:2:15', path: 'train.batch_size', says: ['expected an integer from 1 to 65536', 'found 12.5'] }],
  },
  {
    name: 'wrong type: "yes" is not a boolean',
    files: { 'x.yaml': 'model:\n  batch_norm: yes\n' },
    errors: [{ at: 'x.yaml:2:15', path: 'model.batch_norm', says: ['expected true or false', 'found the string "yes"'] }],
  },
  {
    name: 'a section that is not a map',
    files: { 'x.yaml': 'model: 5\n' },
    errors: [{ at: 'x.yaml:1:8', path: 'model', says: ['expected a map of settings', 'found 5'] }],
  },
  {
    name: 'out of range: colour levels',
    files: { 'x.yaml': 'model:\n  color_levels: 300\n' },
    errors: [{ at: 'x.yaml:2:17', path: 'model.color_levels', says: ['expected an integer from 2 to 256', 'found 300'] }],
  },
  {
    name: 'out of range: a zero learning rate',
    files: { 'x.yaml': 'train:\n  optimizer:\n    learning_rate: 0\n' },
    errors: [{ at: 'x.yaml:3:20', path: 'train.optimizer.learning_rate', says: ['greater than 0', 'found 0'] }],
  },
  {
    name: 'not one of the choices: backend',
    files: { 'x.yaml': 'backend: gpu\n' },
    errors: [{ at: 'x.yaml:1:10', path: 'backend', says: ['expected one of "auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"', 'found the string "gpu"'] }],
  },
  {
    name: 'not one of the choices: mask type',
    files: { 'x.yaml': 'model:\n  blocks:\n    mask: C\n' },
    errors: [{ at: 'x.yaml:3:11', path: 'model.blocks.mask', says: ['expected one of "A", "B"', 'found the string "C"'] }],
  },
  {
    name: 'malformed interval',
    files: { 'x.yaml': 'train:\n  eval_every: 3 epocs\n' },
    errors: [{ at: 'x.yaml:2:15', path: 'train.eval_every', says: ['"500 steps" or "2 epochs"', 'found the string "3 epocs"'] }],
  },
  {
    name: 'name with a space',
    files: { 'x.yaml': 'name: my run\n' },
    errors: [{ at: 'x.yaml:1:7', path: 'name', says: ["letters, digits, '.', '_' and '-'", 'found the string "my run"'] }],
  },
  {
    name: 'even kernel in the input conv',
    files: { 'x.yaml': 'model:\n  input:\n    kernel_size: 6\n' },
    errors: [{ at: 'x.yaml:3:18', path: 'model.input.kernel_size', says: ['expected an odd kernel size', 'found 6'] }],
  },
  {
    name: 'even kernel in the blocks',
    files: { 'x.yaml': 'model:\n  blocks: {kernel_size: 4}\n' },
    errors: [{ at: 'x.yaml:2:25', path: 'model.blocks.kernel_size', says: ['expected an odd kernel size', 'found 4'] }],
  },
  {
    name: 'mask B in the first layer',
    files: { 'x.yaml': 'model:\n  input:\n    mask: B\n' },
    errors: [{ at: 'x.yaml:3:11', path: 'model.input.mask', says: ['the first layer must use mask A', 'each pixel sees its own value'] }],
  },
  {
    name: 'a 1x1 mask-A input conv sees nothing',
    files: { 'x.yaml': 'model:\n  input:\n    kernel_size: 1\n' },
    errors: [{ at: 'x.yaml:3:18', path: 'model.input.kernel_size', says: ['no weights left'] }],
  },
  {
    name: 'mask A in the 1x1 head convs',
    files: { 'x.yaml': 'model:\n  head:\n    mask: A\n' },
    errors: [{ at: 'x.yaml:3:11', path: 'model.head.mask', says: ['no weights left', 'use mask B'] }],
  },
  {
    name: '1x1 mask-A block convs',
    files: { 'x.yaml': 'model:\n  blocks:\n    kernel_size: 1\n    mask: A\n' },
    errors: [{ at: 'x.yaml:4:11', path: 'model.blocks.mask', says: ['no weights left'] }],
  },
  {
    name: 'an unknown block type',
    files: { 'x.yaml': 'model:\n  blocks:\n    type: gatd\n' },
    errors: [{ at: 'x.yaml:3:11', path: 'model.blocks.type', says: ['expected one of "residual", "gated"', 'found the string "gatd"'] }],
  },
  {
    name: 'dilations on residual blocks',
    files: { 'x.yaml': 'model:\n  blocks:\n    dilations: [1, 2]\n' },
    errors: [{ at: 'x.yaml:3:5', path: 'model.blocks.dilations', says: ['gated blocks only'] }],
  },
  {
    name: 'skip connections on residual blocks',
    files: { 'x.yaml': 'model:\n  blocks:\n    skip_connections: true\n' },
    errors: [{ at: 'x.yaml:3:5', path: 'model.blocks.skip_connections', says: ['gated blocks only'] }],
  },
  {
    name: 'gated blocks: not one dilation per block',
    files: { 'x.yaml': 'model:\n  blocks:\n    type: gated\n    count: 3\n    dilations: [1, 2]\n' },
    errors: [{ at: 'x.yaml:5:16', path: 'model.blocks.dilations', says: ['one dilation per block', 'model.blocks.count is 3', 'found 2'] }],
  },
  {
    name: 'gated blocks: a dilation of 0',
    files: { 'x.yaml': 'model:\n  blocks:\n    type: gated\n    count: 2\n    dilations: [1, 0]\n' },
    errors: [{ at: 'x.yaml:5:20', path: 'model.blocks.dilations.1', says: ['from 1 to 64', 'found 0'] }],
  },
  {
    name: 'gated blocks: 1x1 kernels never widen the stacks',
    files: { 'x.yaml': 'model:\n  blocks:\n    type: gated\n    kernel_size: 1\n' },
    errors: [{ at: 'x.yaml:4:18', path: 'model.blocks.kernel_size', says: ['kernel of 3 or more', 'column above'] }],
  },
  {
    name: 'gated blocks: skip connections without blocks',
    files: { 'x.yaml': 'model:\n  blocks:\n    type: gated\n    count: 0\n    skip_connections: true\n' },
    errors: [{ at: 'x.yaml:5:23', path: 'model.blocks.skip_connections', says: ['at least one block'] }],
  },
  {
    name: 'gated blocks: mask B in the first (horizontal) layer',
    files: { 'x.yaml': 'model:\n  blocks: {type: gated}\n  input: {mask: B}\n' },
    errors: [{ at: 'x.yaml:3:17', path: 'model.input.mask', says: ['the first layer must use mask A'] }],
  },
  {
    name: 'gated blocks: always recomputed',
    files: { 'x.yaml': 'model:\n  blocks: {type: gated}\ntrain:\n  recompute: always\n' },
    errors: [{ at: 'x.yaml:4:14', path: 'train.recompute', says: ['gated blocks are not recomputed'] }],
  },
  {
    name: 'more grid columns than samples',
    files: { 'x.yaml': 'sample:\n  count: 4\n  columns: 8\n' },
    errors: [{ at: 'x.yaml:3:12', path: 'sample.columns', says: ['at most sample.count (4)', 'found 8'] }],
  },
  {
    name: 'idx dataset without a directory',
    files: { 'x.yaml': 'dataset:\n  name: idx\n' },
    errors: [{ at: 'x.yaml:2:9', path: 'dataset.name', says: ['needs dataset.dir'] }],
  },
  {
    name: 'a directory for a built-in dataset',
    files: { 'x.yaml': 'dataset:\n  name: mnist\n  dir: ./data\n' },
    errors: [{ at: 'x.yaml:3:3', path: 'dataset.dir', says: ['only applies to datasets idx, cifar10 and images'] }],
  },
  {
    name: 'cifar10 without a directory',
    files: { 'x.yaml': 'dataset:\n  name: cifar10\nmodel:\n  hidden: 96\n' },
    errors: [{ at: 'x.yaml:2:9', path: 'dataset.name', says: ['dataset cifar10 needs dataset.dir', 'data_batch_1.bin'] }],
  },
  {
    name: 'an image folder dataset without a directory',
    files: { 'x.yaml': 'dataset:\n  name: images\n' },
    errors: [{ at: 'x.yaml:2:9', path: 'dataset.name', says: ['dataset images needs dataset.dir', 'PNG or JPEG'] }],
  },
  {
    name: 'a directory for colored-mnist, which pxl makes itself',
    files: { 'x.yaml': 'dataset:\n  name: colored-mnist\n  dir: ./data\nmodel:\n  hidden: 96\n' },
    errors: [{ at: 'x.yaml:3:3', path: 'dataset.dir', says: ['colored-mnist is found by pxl itself'] }],
  },
  {
    name: 'a width that does not split into the three channel groups of a colour dataset',
    files: { 'x.yaml': 'dataset:\n  name: colored-mnist\nmodel:\n  hidden: 32\n' },
    errors: [{ at: 'x.yaml:4:11', path: 'model.hidden', says: ['expected a multiple of 3 for 3-channel images', 'G sees R and B sees R and G', 'found 32', 'try 30 or 33'] }],
  },
  {
    name: 'a gated width that does not split into the channel groups of CIFAR-10, set on the command line',
    files: { 'x.yaml': 'dataset:\n  name: cifar10\n  dir: ./cifar\nmodel:\n  blocks:\n    type: gated\n' },
    sets: ['model.hidden=64'],
    errors: [{ at: "--set 'model.hidden=64':1:14", path: 'model.hidden', says: ['two halves of h and each half into 3 groups', 'found 64', 'try 63 or 66'] }],
  },
  {
    name: "colored-mnist at the default width, which does not split into three groups",
    files: { 'x.yaml': 'dataset:\n  name: colored-mnist\n' },
    errors: [{ at: 'x.yaml:1:1', path: 'model.hidden', says: ['found 128', 'try 126 or 129'] }],
  },
  {
    name: 'a test fraction of 1 leaves nothing to train on',
    files: { 'x.yaml': 'dataset:\n  name: images\n  dir: ./d\n  test_fraction: 1\n' },
    errors: [{ at: 'x.yaml:4:18', path: 'dataset.test_fraction', says: ['less than 1', 'found 1'] }],
  },
  {
    name: 'extends a missing parent',
    files: { 'x.yaml': 'seed: 1\nextends: ./missing.yaml\n' },
    errors: [{ at: 'x.yaml:2:10', path: 'extends', says: ['parent file "./missing.yaml" not found'] }],
  },
  {
    name: 'extends that is not a path',
    files: { 'x.yaml': 'extends: 42\n' },
    errors: [{ at: 'x.yaml:1:10', path: 'extends', says: ['expected a relative path', 'found 42'] }],
  },
  {
    name: 'extends cycle',
    files: { 'x.yaml': 'extends: ./y.yaml\n', 'y.yaml': 'seed: 2\nextends: ./x.yaml\n' },
    errors: [{ at: 'y.yaml:2:10', path: 'extends', says: ['cycle', 'x.yaml -> y.yaml -> x.yaml'] }],
  },
  {
    name: 'an error inside the parent is reported in the parent',
    files: { 'x.yaml': 'extends: ./base.yaml\nseed: 1\n', 'base.yaml': 'model:\n  hidden: 8\n  colour_levels: 4\n' },
    errors: [{ at: 'base.yaml:3:3', path: 'model.colour_levels', says: ['did you mean "color_levels"?'] }],
  },
  {
    name: 'a syntax error inside the parent',
    files: { 'x.yaml': 'extends: ./base.yaml\n', 'base.yaml': 'model: {hidden: 8\n' },
    errors: [{ at: 'base.yaml:2:1', says: ['YAML syntax error'] }],
  },
  {
    name: '--set without "="',
    files: { 'x.yaml': 'seed: 1\n' },
    sets: ['model.hidden'],
    errors: [{ at: "--set 'model.hidden':1:1", says: ['expected key.path=value'] }],
  },
  {
    name: '--set of an unknown key gets a suggestion and the column of the bad segment',
    files: { 'x.yaml': 'seed: 1\n' },
    sets: ['model.hiden=64'],
    errors: [{ at: "--set 'model.hiden=64':1:7", path: 'model.hiden', says: ['did you mean "hidden"?'] }],
  },
  {
    name: '--set of a value of the wrong type',
    files: { 'x.yaml': 'seed: 1\n' },
    sets: ['model.batch_norm=maybe'],
    errors: [{ at: "--set 'model.batch_norm=maybe':1:18", path: 'model.batch_norm', says: ['expected true or false', 'found the string "maybe"'] }],
  },
  {
    name: '--set of a rule violation',
    files: { 'x.yaml': 'seed: 1\n' },
    sets: ['model.input.mask=B'],
    errors: [{ at: "--set 'model.input.mask=B':1:18", path: 'model.input.mask', says: ['must use mask A'] }],
  },
  {
    name: 'every error at once, in file order',
    files: { 'x.yaml': 'seed: -1\nmodel:\n  hidden: 0\n  input: {mask: B}\nsample: {method: fast}\n' },
    errors: [
      { at: 'x.yaml:1:7', path: 'seed', says: ['from 0 to 4294967295', 'found -1'] },
      { at: 'x.yaml:3:11', path: 'model.hidden', says: ['from 1 to 4096', 'found 0'] },
      { at: 'x.yaml:4:17', path: 'model.input.mask', says: ['must use mask A'] },
      { at: 'x.yaml:5:18', path: 'sample.method', says: ['"naive", "cached"'] },
    ],
  },
  {
    name: 'an empty file',
    files: { 'x.yaml': '' },
    errors: [{ at: 'x.yaml:1:1', says: ['the file has no settings', 'empty or holds only comments'] }],
  },
  {
    name: 'a file of only comments',
    files: { 'x.yaml': '# a new experiment\n\n# to be written\n' },
    errors: [{ at: 'x.yaml:1:1', says: ['the file has no settings'] }],
  },
  {
    name: 'a file holding only null',
    files: { 'x.yaml': '~\n' },
    errors: [{ at: 'x.yaml:1:1', says: ['expected a map of settings at the top level', 'found null'] }],
  },
  {
    name: 'an empty parent file',
    files: { 'x.yaml': 'extends: ./base.yaml\nseed: 1\n', 'base.yaml': '# nothing yet\n' },
    errors: [{ at: 'base.yaml:1:1', says: ['the file has no settings'] }],
  },
  {
    name: 'a YAML alias bomb',
    files: {
      'x.yaml':
        'a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n' +
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n' +
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n' +
        'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n' +
        'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
    },
    errors: [{ at: 'x.yaml:3:8', says: ['YAML aliases expand too far', 'more than 100 alias expansions'] }],
  },
  {
    name: 'extends a folder: reported at the extends line',
    files: { 'x.yaml': 'seed: 1\nextends: ./parts\n', 'parts/a.yaml': 'seed: 2\n' },
    errors: [{ at: 'x.yaml:2:10', path: 'extends', says: ['parent file "./parts" is a directory'] }],
  },
  {
    name: 'extends a binary file: one line saying so',
    files: { 'x.yaml': 'extends: ./logo.png\n', 'logo.png': `PK\u0003\u0004${'\u0000: [ &x'.repeat(500)}` },
    errors: [{ at: 'x.yaml:1:10', path: 'extends', says: ['parent file "./logo.png" is not a text file (binary data at byte 2)'] }],
  },
  {
    name: 'a binary experiment file',
    files: { 'x.yaml': 'seed: 1\n\u0000\u0001\u0002' },
    errors: [{ at: 'x.yaml:1:1', says: ['cannot read experiment file: is not a text file (binary data at byte 8)'] }],
  },
  {
    name: 'extends a device: refused without reading it',
    files: { 'x.yaml': 'extends: /dev/zero\n' },
    errors: [{ at: 'x.yaml:1:10', path: 'extends', says: ['"/dev/zero" is not a regular file but a character device'] }],
  },
  {
    name: 'extends a file over the size limit',
    files: { 'x.yaml': 'extends: ./huge.yaml\n', 'huge.yaml': `description: ${'x'.repeat(2 ** 20)}\n` },
    errors: [{ at: 'x.yaml:1:10', path: 'extends', says: ['too large for a config file: 1,048,590 bytes', 'the limit is 1 MiB (1,048,576 bytes)'] }],
  },
  {
    name: '--set of __proto__ is an unknown key',
    files: { 'x.yaml': 'seed: 1\n' },
    sets: ['__proto__.x=1'],
    errors: [{ at: "--set '__proto__.x=1':1:1", path: '__proto__', says: ['unknown key "__proto__"'] }],
  },
  {
    name: '--set of constructor and prototype are unknown keys',
    files: { 'x.yaml': 'seed: 1\n' },
    sets: ['constructor.x=1', 'model.prototype=1', 'model.__proto__.hidden=2'],
    errors: [
      { at: "--set 'constructor.x=1':1:1", path: 'constructor', says: ['unknown key "constructor"'] },
      { at: "--set 'model.__proto__.hidden=2':1:7", path: 'model.__proto__', says: ['unknown key "__proto__"'] },
      { at: "--set 'model.prototype=1':1:7", path: 'model.prototype', says: ['unknown key "prototype"'] },
    ],
  },
  {
    name: '__proto__ and constructor keys in YAML are unknown keys',
    files: { 'x.yaml': 'seed: 1\n__proto__:\n  seed: 2\nmodel:\n  constructor: 1\n' },
    errors: [
      { at: 'x.yaml:2:1', path: '__proto__', says: ['unknown key "__proto__"'] },
      { at: 'x.yaml:5:3', path: 'model.constructor', says: ['unknown key "constructor"'] },
    ],
  },
  {
    name: '__proto__ in a parent file is an unknown key',
    files: { 'x.yaml': 'extends: ./base.yaml\n', 'base.yaml': 'model:\n  __proto__: {hidden: 2}\n' },
    errors: [{ at: 'base.yaml:2:3', path: 'model.__proto__', says: ['unknown key "__proto__"'] }],
  },
  {
    name: 'an over-long description: the length rule, and only a prefix of the value',
    files: { 'x.yaml': `description: ${'lorem ipsum '.repeat(50_000)}\n` },
    errors: [{ at: 'x.yaml:1:14', path: 'description', says: ['expected a string of at most 5000 characters', '"lorem ipsum lorem', '… (599,999 characters)'] }],
  },
  {
    name: 'an over-long name: its length rule',
    files: { 'x.yaml': `name: ${'n'.repeat(101)}\n` },
    errors: [{ at: 'x.yaml:1:7', path: 'name', says: ['expected a string of 1 to 100 characters', '… (101 characters)'] }],
  },
  {
    name: 'an over-long unknown key: quoted by a prefix',
    files: { 'x.yaml': `? ${'k'.repeat(100_000)}\n: 1\n` },
    errors: [{ at: 'x.yaml:1:3', says: ['unknown key "kkkk', '… (100,000 characters)'] }],
  },
  {
    name: 'model.conditioning: an unknown type, classes out of bounds',
    files: { 'x.yaml': 'model:\n  conditioning:\n    type: label\n    classes: 1\n' },
    errors: [
      { at: 'x.yaml:3:11', path: 'model.conditioning.type', says: ['expected one of "none", "class"', 'found the string "label"'] },
      { at: 'x.yaml:4:14', path: 'model.conditioning.classes', says: ['expected an integer from 2 to 256', 'found 1'] },
    ],
  },
  {
    name: 'model.conditioning: type class without classes',
    files: { 'x.yaml': 'model:\n  conditioning: {type: class}\n' },
    errors: [{ at: 'x.yaml:2:24', path: 'model.conditioning.type', says: ['class conditioning needs model.conditioning.classes'] }],
  },
  {
    name: 'model.conditioning: classes on an unconditional model',
    files: { 'x.yaml': 'model:\n  conditioning:\n    classes: 10\n' },
    errors: [{ at: 'x.yaml:3:5', path: 'model.conditioning.classes', says: ['classes applies only to model.conditioning.type class'] }],
  },
  {
    name: 'model.conditioning: a conditional model without blocks',
    files: { 'x.yaml': 'model:\n  blocks: {count: 0}\n  conditioning: {type: class, classes: 10}\n' },
    errors: [{ at: 'x.yaml:3:24', path: 'model.conditioning.type', says: ['model.blocks.count is 0', 'the label would reach nothing'] }],
  },
  {
    name: 'model.output: an unknown type, components out of bounds',
    files: { 'x.yaml': 'model:\n  output:\n    type: gaussian\n    components: 0\n' },
    errors: [
      { at: 'x.yaml:3:11', path: 'model.output.type', says: ['expected one of "softmax", "logistic_mixture"', 'found the string "gaussian"'] },
      { at: 'x.yaml:4:17', path: 'model.output.components', says: ['expected an integer from 1 to 64', 'found 0'] },
    ],
  },
  {
    name: 'model.output: components that are not a whole number',
    files: { 'x.yaml': 'model:\n  output: {type: logistic_mixture, components: 2.5}\n' },
    errors: [{ at: 'x.yaml:2:48', path: 'model.output.components', says: ['expected an integer', 'found 2.5'] }],
  },
  {
    name: 'model.output: a logistic mixture without components',
    files: { 'x.yaml': 'model:\n  output: {type: logistic_mixture}\n' },
    errors: [{ at: 'x.yaml:2:18', path: 'model.output.type', says: ['a logistic mixture needs model.output.components'] }],
  },
  {
    name: 'model.output: components on a softmax output',
    files: { 'x.yaml': 'model:\n  output:\n    components: 5\n' },
    errors: [{ at: 'x.yaml:3:5', path: 'model.output.components', says: ['components applies only to model.output.type logistic_mixture'] }],
  },
  {
    name: 'model.output: a logistic mixture over fewer than 2 colour levels',
    files: { 'x.yaml': 'model:\n  color_levels: 1\n  output: {type: logistic_mixture, components: 5}\n' },
    errors: [{ at: 'x.yaml:2:17', path: 'model.color_levels', says: ['expected an integer from 2 to 256', 'found 1'] }],
  },
  {
    name: 'sample.classes on an unconditional model',
    files: { 'x.yaml': 'sample:\n  classes: all\n' },
    errors: [{ at: 'x.yaml:2:3', path: 'sample.classes', says: ['sample.classes needs a class-conditional model'] }],
  },
  {
    name: 'sample.classes: a class id the model does not have, at its place in the list',
    files: { 'x.yaml': 'model:\n  conditioning: {type: class, classes: 10}\nsample:\n  classes: [3, 10, 2]\n' },
    errors: [{ at: 'x.yaml:4:16', path: 'sample.classes.1', says: ['expected a class id from 0 to 9 (model.conditioning.classes 10)', 'found 10'] }],
  },
  {
    name: 'sample.classes: neither a list nor all',
    files: { 'x.yaml': 'model:\n  conditioning: {type: class, classes: 10}\nsample:\n  classes: some\n' },
    errors: [{ at: 'x.yaml:4:12', path: 'sample.classes', says: ['expected a list of class ids such as [0, 3, 7], or all', 'found the string "some"'] }],
  },
  {
    name: 'sample.classes: a negative class id',
    files: { 'x.yaml': 'model:\n  conditioning: {type: class, classes: 10}\nsample:\n  classes: [1, -1]\n' },
    errors: [{ at: 'x.yaml:4:16', path: 'sample.classes.1', says: ['expected an integer from 0 to 255', 'found -1'] }],
  },
  {
    name: 'sample.classes: more images than a grid holds',
    files: { 'x.yaml': 'model:\n  conditioning: {type: class, classes: 100}\nsample:\n  columns: 50\n  classes: all\n' },
    errors: [{ at: 'x.yaml:5:12', path: 'sample.classes', says: ['100 rows of sample.columns 50 images make 5000', 'at most 4096'] }],
  },  {
    name: 'train.lr_schedule: a step schedule without a period',
    files: { 'x.yaml': 'train:\n  lr_schedule:\n    name: step\n' },
    errors: [{ at: 'x.yaml:3:11', path: 'train.lr_schedule.name', says: ['the step schedule needs train.lr_schedule.every'] }],
  },
  {
    name: 'train.lr_schedule: a period on a schedule that has none',
    files: { 'x.yaml': 'train:\n  lr_schedule:\n    name: cosine\n    every: 100\n' },
    errors: [{ at: 'x.yaml:4:5', path: 'train.lr_schedule.every', says: ['every applies only to the step schedule', 'this one is cosine'] }],
  },
  {
    name: 'train.lr_schedule: a period of 0 epochs, an unknown schedule',
    files: { 'x.yaml': 'train:\n  lr_schedule:\n    name: linear\n    every: 0 epochs\n' },
    errors: [
      { at: 'x.yaml:3:11', path: 'train.lr_schedule.name', says: ['expected one of "constant", "step", "exponential", "cosine"', 'found the string "linear"'] },
      { at: 'x.yaml:4:12', path: 'train.lr_schedule.every', says: ['expected a number of steps (1 or more), or a string like "500 steps" or "2 epochs"'] },
    ],
  },
  {
    name: 'train.lr_schedule: a warmup as long as the run',
    files: { 'x.yaml': 'train:\n  steps: 100\n  lr_schedule: {warmup: 100}\n' },
    errors: [{ at: 'x.yaml:3:25', path: 'train.lr_schedule.warmup', says: ['expected a warmup shorter than the run (train.steps 100)', 'found 100'] }],
  },
  {
    name: 'train.lr_schedule: decay and gamma outside (0, 1)',
    files: { 'x.yaml': 'train:\n  lr_schedule: {name: exponential, decay: 1, gamma: 0}\n' },
    errors: [
      { at: 'x.yaml:2:43', path: 'train.lr_schedule.decay', says: ['expected a number', 'found 1'] },
      { at: 'x.yaml:2:53', path: 'train.lr_schedule.gamma', says: ['expected a number', 'found 0'] },
    ],
  },
  {
    name: 'train.lr_schedule: a cosine floor not below the rate it starts from',
    files: { 'x.yaml': 'train:\n  optimizer: {learning_rate: 0.001}\n  lr_schedule: {name: cosine, min_lr: 0.002}\n' },
    errors: [{ at: 'x.yaml:3:39', path: 'train.lr_schedule.min_lr', says: ['expected a floor below train.optimizer.learning_rate (0.001)', 'found 0.002'] }],
  },
  {
    name: 'train.optimizer.weight_decay: negative',
    files: { 'x.yaml': 'train:\n  optimizer: {weight_decay: -0.1}\n' },
    errors: [{ at: 'x.yaml:2:29', path: 'train.optimizer.weight_decay', says: ['expected a number from 0 to 1', 'found -0.1'] }],
  },
  {
    name: 'train.optimizer.weight_decay x learning_rate of 1 or more',
    files: { 'x.yaml': 'train:\n  optimizer: {learning_rate: 2, weight_decay: 0.5}\n' },
    errors: [{ at: 'x.yaml:2:47', path: 'train.optimizer.weight_decay', says: ['learning_rate x weight_decay must stay below 1', 'found 2 x 0.5'] }],
  },
  {
    name: 'train.grad_clip of 0, an unknown on_nonfinite_gradient, an EMA decay of 1',
    files: { 'x.yaml': 'train:\n  grad_clip: 0\n  on_nonfinite_gradient: ignore\n  ema: {decay: 1}\n' },
    errors: [
      { at: 'x.yaml:2:14', path: 'train.grad_clip', says: ['found 0'] },
      { at: 'x.yaml:3:26', path: 'train.on_nonfinite_gradient', says: ['expected one of "stop", "skip"', 'found the string "ignore"'] },
      { at: 'x.yaml:4:16', path: 'train.ema.decay', says: ['found 1'] },
    ],
  },
  {
    name: 'model.dropout of 1',
    files: { 'x.yaml': 'model:\n  dropout: 1\n' },
    errors: [{ at: 'x.yaml:2:12', path: 'model.dropout', says: ['expected a number at least 0 and less than 1', 'found 1'] }],
  },
  {
    name: 'model.dropout: negative',
    files: { 'x.yaml': 'model: {dropout: -0.5}\n' },
    errors: [{ at: 'x.yaml:1:18', path: 'model.dropout', says: ['found -0.5'] }],
  },
  {
    name: 'model.dropout: not a number',
    files: { 'x.yaml': 'model:\n  dropout: half\n' },
    errors: [{ at: 'x.yaml:2:12', path: 'model.dropout', says: ['found the string "half"'] }],
  },
  {
    name: 'train.ema: a typo in its key',
    files: { 'x.yaml': 'train:\n  ema: {decai: 0.999}\n' },
    errors: [{ at: 'x.yaml:2:9', path: 'train.ema.decai', says: ['unknown key "decai"', 'did you mean "decay"?'] }],
  },
];

function load(c: Case, dir = tempDir()): ConfigError {
  writeFiles(dir, c.files);
  try {
    loadExperiment(join(dir, 'x.yaml'), c.sets ?? []);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, but the experiment loaded');
}

describe('special files', () => {
  it('refuses a named pipe as a parent without opening it (opening would wait for a writer)', () => {
    const dir = tempDir();
    writeFiles(dir, { 'x.yaml': 'extends: ./pipe.yaml\n' });
    expect(spawnSync('mkfifo', [join(dir, 'pipe.yaml')]).status).toBe(0);
    const err = load({ name: 'fifo', files: {}, errors: [] }, dir);
    expect(err.message).toBe(`${join(dir, 'x.yaml')}:1:10: extends: parent file "./pipe.yaml" is not a regular file but a named pipe; expected a YAML file`);
  });

  it('refuses a device as the experiment file itself', () => {
    expect(() => loadExperiment('/dev/zero')).toThrow('/dev/zero:1:1: cannot read experiment file: is not a regular file but a character device');
  });
});

describe('bad experiment input', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const err = load(c);
    const got = err.diagnostics.map((d) => ({
      at: `${d.location.file.startsWith('--set') ? d.location.file : basename(d.location.file)}:${d.location.line}:${d.location.col}`,
      path: d.path,
      message: d.message,
    }));
    expect(got.map((g) => g.at)).toEqual(c.errors.map((e) => e.at));
    c.errors.forEach((e, i) => {
      if (e.path !== undefined) expect(got[i].path).toBe(e.path);
      for (const s of e.says) {
        if (typeof s === 'string') expect(got[i].message).toContain(s);
        else expect(got[i].message).toMatch(s);
      }
    });
    // The printed form is FILE:LINE:COL: path: message, one problem per line.
    expect(err.message.split('\n')).toHaveLength(c.errors.length);
    expect(err.message).toMatch(/^\S.*:\d+:\d+: /);
    // Bounded: whatever the input, no line quotes more than a short prefix of it.
    for (const line of err.message.split('\n')) expect(line.length).toBeLessThan(600);
  });
});
