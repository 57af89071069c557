import { defineConfig } from 'vitest/config'
import type { TestProjectInlineConfiguration } from 'vitest/config'

/**
 * Tests whose subject is what the store keeps and serves: they run once per storage engine, the
 * same files on SQLite (the `sqlite` project, with every other test) and on PostgreSQL (the
 * `postgres` project, whose servers the fixtures open on a PostgreSQL database). Tests of what
 * lies in front of the store (input limits, access control, slow readers' sockets, the CLI,
 * packaging) run on SQLite only: the engine changes nothing there.
 */
const STORAGE_TESTS = [
  'packages/server/test/append.test.ts',
  'packages/server/test/bad-input.test.ts',
  'packages/server/test/closure.test.ts',
  'packages/server/test/created-at.test.ts',
  'packages/server/test/deep-json.test.ts',
  'packages/server/test/group-commit.test.ts',
  'packages/server/test/log-routes.test.ts',
  'packages/server/test/names-exact.test.ts',
  'packages/server/test/put-config.test.ts',
  'packages/server/test/set-state.test.ts',
  'packages/server/test/state-at.test.ts',
  'packages/server/test/state-checkpoints.test.ts',
  'packages/server/test/state-forks.test.ts',
  'packages/server/test/window.test.ts',
  'test/conformance.test.ts',
  'test/interop.test.ts',
  'test/live-closed-forked.test.ts',
  'test/live-cursor.test.ts',
  'test/live-expiry.test.ts',
  'test/live-lifecycle.test.ts',
  'test/live-multi.test.ts',
  'test/live-state.test.ts',
  'test/live-stream.test.ts',
  'test/shutdown.test.ts',
  'test/client-control.test.ts',
  'test/client-faults.test.ts',
  'test/client-history.test.ts',
  'test/client-multi.test.ts',
]

/** Tests of the PostgreSQL engine alone (migrations, replicas): the `postgres` project only. */
const POSTGRES_TESTS = ['packages/server/test/pg-*.test.ts', 'test/pg-*.test.ts', 'test/replicas-*.test.ts']

const project = (name: string, config: NonNullable<TestProjectInlineConfiguration['test']>): TestProjectInlineConfiguration => ({
  extends: true,
  test: { name, ...config },
})

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources (the `source` export condition), so
  // tests run on the code as it is, with no build in between. Vite's default server conditions
  // follow it.
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Server tests share two cores with their own clients; keep the pool small.
    maxWorkers: 2,
    projects: [
      // Tests that spawn the compiled server or pack the packages need dist/ up to date.
      project('sqlite', {
        include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
        exclude: ['**/node_modules/**', ...POSTGRES_TESTS],
        globalSetup: ['./test/support/build.ts'],
      }),
      // One PostgreSQL server for the run; each test file makes a database on it.
      project('postgres', {
        include: [...STORAGE_TESTS, ...POSTGRES_TESTS],
        globalSetup: ['./test/support/postgres.ts'],
        provide: { engine: 'postgres' },
      }),
    ],
  },
})
