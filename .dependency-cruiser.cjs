/**
 * The import rules `npm run lint` checks (dependency-cruiser): no cycles; the product never imports tests, the
 * bench or the scripts; and the layers below, each of which imports only from itself and the layers under it.
 */

/**
 * From the ground up. A file belongs to the first layer whose pattern it matches. docs/architecture.md says what
 * each layer holds and why it stands where it does.
 */
const LAYERS = [
  // Leaves: the error vocabulary, logging and redaction, loopback HTTP helpers, the version, the heap switch.
  [
    'leaves',
    '^src/(errors/|files/|observe/(log|redact)\\.ts$|http/|canonical-json\\.ts$|version\\.ts$|heap\\.ts$|hold-young-generation\\.ts$)',
  ],
  ['config', '^src/config/'],
  ['tools', '^src/tools/'],
  ['catalog', '^src/catalog/'],
  ['machines', '^machines/'],
  // Views of the machines: trace, status, inspector, diagrams. They read snapshots, never the I/O behind them.
  ['observe', '^src/observe/'],
  ['oauth and tasks', '^src/(oauth|tasks)/'],
  ['upstream', '^src/upstream/'],
  ['server and demo', '^src/(server|demo)/'],
  ['proxy', '^src/proxy(\\.ts$|/)'],
  ['cli', '^src/(cli|pins-command)\\.ts$'],
];

/** Layer i may not import any layer above it; a file of a lower layer is also no file of a higher one. */
const layerRules = LAYERS.slice(0, -1).map(([name, path], index) => ({
  name: `layer-${name.replaceAll(' ', '-')}`,
  severity: 'error',
  comment: `${name} stands below ${LAYERS.slice(index + 1)
    .map(([above]) => above)
    .join(', ')}: it does not import them (move the shared piece down, or pass it in).`,
  from: { path, pathNot: LAYERS.slice(0, index).map(([, below]) => below) },
  to: {
    path: LAYERS.slice(index + 1).map(([, above]) => above),
    pathNot: LAYERS.slice(0, index + 1).map(([, own]) => own),
  },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules can be understood only together: break it with a leaf they both import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'product-not-to-tooling',
      severity: 'error',
      comment: 'What ships (src/, machines/) does not import tests, fixtures, the bench or the scripts.',
      from: { path: '^(src|machines)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // The build's .js specifiers name the .ts sources.
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
