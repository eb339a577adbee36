import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const config = join(root, '.dependency-cruiser.cjs');

/** Runs the project's import-boundary check (what `npm run lint` runs) on the tree at `cwd`. */
async function checkBoundaries(cwd: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout } = await run(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd });
    return { ok: true, output: stdout };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/** A small tree laid out as the project is, with the given files. */
async function tree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'boundaries-'));
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }),
  );
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  trees.push(dir);
  return dir;
}
const trees: string[] = [];

describe('import boundaries (npm run lint)', () => {
  let clean: string;
  beforeAll(async () => {
    clean = await tree({
      'src/kernel/errors.ts': 'export class AppError extends Error {}\n',
      'src/modules/users/users.service.ts':
        "import { AppError } from '../../kernel/errors.js';\nexport const fail = () => new AppError();\n",
      'src/modules/tenants/tenants.service.ts':
        "import { fail } from '../users/users.service.js';\nexport const again = fail;\n",
      'src/app/app.ts':
        "import { again } from '../modules/tenants/tenants.service.js';\nexport const app = again;\n",
    });
  });
  afterAll(async () => {
    await Promise.all(trees.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('passes on this repository', async () => {
    const result = await checkBoundaries(root);
    expect(result.output).toContain('no dependency violations found');
    expect(result.ok).toBe(true);
  });

  it('passes on a tree whose imports point one way', async () => {
    expect(await checkBoundaries(clean)).toMatchObject({ ok: true });
  });

  it('fails when the kernel imports a feature', async () => {
    const dir = await tree({
      'src/kernel/errors.ts':
        "import type { UserRow } from '../modules/users/users.types.js';\nexport type Row = UserRow;\n",
      'src/modules/users/users.types.ts': 'export interface UserRow { id: string }\n',
    });
    const result = await checkBoundaries(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('kernel-imports-no-feature');
    expect(result.output).toContain('src/kernel/errors.ts');
  });

  it('fails when the database layer imports the composition root', async () => {
    const dir = await tree({
      'src/db/client.ts': "import { app } from '../app/app.js';\nexport const client = app;\n",
      'src/app/app.ts': 'export const app = 1;\n',
    });
    const result = await checkBoundaries(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('kernel-imports-no-feature');
  });

  it('fails when a feature imports the composition root', async () => {
    const dir = await tree({
      'src/modules/users/users.resolver.ts':
        "import { app } from '../../app/app.js';\nexport const r = app;\n",
      'src/app/app.ts': 'export const app = 1;\n',
    });
    const result = await checkBoundaries(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('features-do-not-import-the-app');
  });

  it('fails on an import cycle between features', async () => {
    const dir = await tree({
      'src/modules/users/users.service.ts':
        "import { b } from '../tenants/tenants.service.js';\nexport const a = () => b;\n",
      'src/modules/tenants/tenants.service.ts':
        "import { a } from '../users/users.service.js';\nexport const b = () => a;\n",
    });
    const result = await checkBoundaries(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('no-circular');
  });
});
