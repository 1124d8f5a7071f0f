import { describe, expect, it } from '@jest/globals';
import { monorepo } from './fixture.ts';
import { closure, type Lockfile, pruneLockfile, resolveInLock } from './lockfile.ts';

const lock = monorepo()['package-lock.json'] as Lockfile;

describe('resolveInLock', () => {
  it('looks in the requiring package’s node_modules first, then each ancestor’s, like Node', () => {
    expect(resolveInLock(lock.packages, 'node_modules/@s/beta', 'epsilon')).toBe(
      'node_modules/@s/beta/node_modules/epsilon',
    );
    expect(resolveInLock(lock.packages, 'node_modules/alpha', 'epsilon')).toBe(
      'node_modules/epsilon',
    );
    expect(resolveInLock(lock.packages, 'node_modules/@s/beta/node_modules/epsilon', 'phi')).toBe(
      'node_modules/phi',
    );
    expect(resolveInLock(lock.packages, '', 'alpha')).toBe('node_modules/alpha');
    expect(resolveInLock(lock.packages, '', 'nope')).toBeUndefined();
  });
});

describe('closure', () => {
  it('takes dependencies, optional dependencies and required peers, never optional peers or unrelated packages', () => {
    const c = closure(lock, ['alpha', '@s/beta']);
    expect(c.locations).toEqual([
      'node_modules/@s/beta',
      'node_modules/@s/beta/node_modules/epsilon',
      'node_modules/alpha',
      'node_modules/epsilon',
      'node_modules/native-bits',
      'node_modules/phi',
    ]);
    expect([...c.optional]).toEqual(['node_modules/native-bits']);
    expect([...c.peer]).toEqual(['node_modules/phi']);
    expect(c.problems).toEqual([]);
  });

  it('reports a required package the lockfile lacks', () => {
    const broken: Lockfile = {
      ...lock,
      packages: {
        ...lock.packages,
        'node_modules/alpha': { version: '1.0.0', dependencies: { ghost: '1' } },
      },
    };
    expect(closure(broken, ['alpha']).problems).toEqual([
      'node_modules/alpha needs ghost (prod), which package-lock.json does not contain (run npm install)',
    ]);
  });
});

describe('pruneLockfile', () => {
  it('writes a v3 lockfile of the closure, without the monorepo’s dev flags, with local packages as links', () => {
    const root = {
      name: 'img',
      version: '1.0.0',
      dependencies: { alpha: '1.0.0', '@x/lib1': 'file:libs/lib1' },
    };
    const { lockfile, problems } = pruneLockfile(
      lock,
      root,
      ['alpha'],
      [{ name: '@x/lib1', version: '0.1.0', location: 'libs/lib1' }],
    );
    expect(problems).toEqual([]);
    expect(lockfile).toEqual({
      name: 'img',
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': root,
        'libs/lib1': { name: '@x/lib1', version: '0.1.0' },
        'node_modules/@x/lib1': { resolved: 'libs/lib1', link: true },
        'node_modules/alpha': lock.packages['node_modules/alpha'],
        'node_modules/epsilon': lock.packages['node_modules/epsilon'],
      },
    });
  });

  it('drops dev flags from packages production needs and recomputes optional and peer', () => {
    const devFlagged: Lockfile = {
      ...lock,
      packages: {
        ...lock.packages,
        'node_modules/epsilon': { version: '1.5.0', dev: true, devOptional: true },
      },
    };
    const { lockfile } = pruneLockfile(
      devFlagged,
      { name: 'i', version: '1', dependencies: { alpha: '1.0.0', '@s/beta': '2.0.0' } },
      ['alpha', '@s/beta'],
      [],
    );
    expect(lockfile.packages['node_modules/epsilon']).toEqual({ version: '1.5.0' });
    expect(lockfile.packages['node_modules/native-bits']).toMatchObject({ optional: true });
    expect(lockfile.packages['node_modules/phi']).toMatchObject({ peer: true });
    expect(Object.values(lockfile.packages).some((e) => e.dev)).toBe(false);
  });
});
