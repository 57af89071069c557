import { defineConfig } from 'vitest/config'

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources (the `source` export condition), so
  // tests run on the code as it is, with no build in between. Vite's default server conditions
  // follow it.
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Tests that spawn the compiled server or pack the packages need dist/ up to date; the
    // PostgreSQL engine's tests need a PostgreSQL server (one per run).
    globalSetup: ['./test/support/build.ts', './test/support/postgres.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Server tests share two cores with their own clients; keep the pool small.
    maxWorkers: 2,
  },
})
