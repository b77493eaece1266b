/**
 * The import rules `npm run lint` checks (dependency-cruiser): no cycles, and the product never imports tests, the
 * bench or the scripts. (Issue 13 adds the layers: no import from a higher layer into a lower one.)
 */
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
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // The build's .js specifiers name the .ts sources.
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
