/**
 * Import boundaries, checked by `npm run lint` (see docs/architecture.md, "Layers"):
 * the kernel (src/kernel, src/db, src/config.ts) imports no feature and not the composition root;
 * features (src/modules/*) never import the composition root (src/app); nothing imports in a
 * circle. `test/lint.boundaries.test.ts` shows each rule failing on a deliberate example.
 */
module.exports = {
  forbidden: [
    {
      name: 'kernel-imports-no-feature',
      comment: 'The kernel is what every feature builds on: it must not know any of them.',
      severity: 'error',
      from: { path: '^src/(kernel/|db/|config\\.ts)' },
      to: { path: '^src/(modules|app)/' },
    },
    {
      name: 'features-do-not-import-the-app',
      comment: 'src/app composes the features; a feature reaching back into it closes a loop.',
      severity: 'error',
      from: { path: '^src/modules/' },
      to: { path: '^src/app/' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle makes load order matter and every file in it depend on every other.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/client/generated' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
