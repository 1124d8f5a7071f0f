import { describe, expect, it } from '@jest/globals';
import { blueprintHash } from '@flotilla/domain';
import { ManifestError, nextPatch, parseManifests, planBlueprint, planCluster, type ClusterManifest, type RemoteCluster } from './apply.plan.js';

const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: team-a, name: Team A, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 1, maxWorkers: 3 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;
const CLUSTER = `kind: Cluster
metadata: { id: team-a-prod, name: Team A }
spec: { blueprint_id: team-a, target_workers: 2, policy: { cooldownUpSeconds: 30 } }
`;

const blueprint = (version = '1.0.0', name = 'Team A') => parsed(version, name);
function parsed(version: string, name: string) {
  const m = parseManifests(BLUEPRINT.replace('version: 1.0.0', `version: ${version}`).replace('name: Team A', `name: ${name}`), 'b.yaml')[0]!;
  if (m.kind !== 'Blueprint') throw new Error('expected a blueprint');
  return m.document;
}
const published = (...docs: ReturnType<typeof parsed>[]) => ({
  latest_version: docs.at(-1)!.metadata.version,
  versions: docs.map((d) => ({ version: d.metadata.version, hash: blueprintHash(d) })),
});

describe('parseManifests', () => {
  it('reads every document of a multi-document file, blueprints and clusters', () => {
    const ms = parseManifests(`${BLUEPRINT}---\n${CLUSTER}---\n`, 'all.yaml');
    expect(ms.map((m) => [m.kind, m.id, m.source])).toEqual([
      ['Blueprint', 'team-a', 'all.yaml (document 1)'],
      ['Cluster', 'team-a-prod', 'all.yaml (document 2)'],
    ]);
  });
  it('names the file, the document and the path of what is wrong', () => {
    expect(() => parseManifests(`${CLUSTER}---\nkind: Cluster\nmetadata: { id: x, name: y }\nspec: { target_workers: 1 }\n`, 'c.yaml')).toThrow(/^c\.yaml \(document 2\): spec\.blueprint_id: /);
    expect(() => parseManifests('kind: Deployment\n', 'd.yaml')).toThrow(ManifestError);
    expect(() => parseManifests(BLUEPRINT.replace('role: worker', 'role: janitor'), 'b.yaml')).toThrow(/^b\.yaml: agents\[1\]\.role: /);
  });
});

describe('planBlueprint', () => {
  it('creates a blueprint the gateway does not hold', () => {
    expect(planBlueprint(blueprint(), null)).toMatchObject({ action: 'create', version: '1.0.0' });
  });
  it('leaves a published version with the same content alone', () => {
    expect(planBlueprint(parsed('1.0.0', 'Team A'), published(parsed('1.0.0', 'Team A')))).toEqual({ action: 'unchanged', version: '1.0.0' });
  });
  it('leaves alone content that the latest version holds, whatever version the file names', () => {
    const remote = published(parsed('1.0.0', 'Team A'), parsed('1.0.1', 'Team B'));
    expect(planBlueprint(parsed('1.0.0', 'Team B'), remote)).toEqual({ action: 'unchanged', version: '1.0.1' });
  });
  it('publishes changed content under the version the file names when it is above the latest', () => {
    expect(planBlueprint(parsed('2.0.0', 'Team B'), published(parsed('1.0.0', 'Team A')))).toMatchObject({ action: 'configure', version: '2.0.0', changes: ['version 1.0.0 -> 2.0.0'] });
  });
  it('publishes changed content under the next patch version when the named one is taken or lower', () => {
    const plan = planBlueprint(parsed('1.0.0', 'Team B'), published(parsed('1.0.0', 'Team A'), parsed('1.2.0', 'Team A')));
    expect(plan).toMatchObject({ action: 'configure', version: '1.2.1' });
    expect(plan.action !== 'unchanged' && plan.document.metadata.version).toBe('1.2.1');
  });
  it('bumps the patch number', () => {
    expect(nextPatch('1.2.9')).toBe('1.2.10');
    expect(nextPatch('3.0.0-rc.1')).toBe('3.0.1');
  });
});

describe('planCluster', () => {
  const declared = (spec: Partial<ClusterManifest['spec']> = {}, name = 'Team A'): ClusterManifest => ({ kind: 'Cluster', metadata: { id: 'team-a-prod', name }, spec: { blueprint_id: 'team-a', ...spec } });
  const current: RemoteCluster = { name: 'Team A', description: '', status: 'active', blueprint_id: 'team-a', blueprint_version: '1.0.0', target_workers: 1, min_workers: 0, max_workers: 3, policy: { cooldownUpSeconds: 60, queuePerWorkerUp: 10 } };

  it('creates a cluster with its target when no bounds or policy are declared', () => {
    expect(planCluster(declared({ target_workers: 2 }), null)).toMatchObject({ action: 'create', create: { id: 'team-a-prod', name: 'Team A', blueprint_id: 'team-a', target_workers: 2 } });
  });
  it('creates, then sets bounds and policy, then scales when bounds are declared', () => {
    const plan = planCluster(declared({ target_workers: 5, max_workers: 8, policy: { cooldownUpSeconds: 30 } }), null);
    expect(plan).toMatchObject({ action: 'create', update: { max_workers: 8, policy: { cooldownUpSeconds: 30 } }, scale: 5 });
    expect(plan.create).not.toHaveProperty('target_workers');
  });
  it('is unchanged when every declared field matches (undeclared ones are not compared)', () => {
    expect(planCluster(declared({ target_workers: 1, policy: { cooldownUpSeconds: 60 } }), current)).toEqual({ action: 'unchanged', changes: [], warnings: [] });
  });
  it('sends only what differs: a policy patch of the changed keys, a scale for the target', () => {
    const plan = planCluster(declared({ target_workers: 2, max_workers: 4, policy: { cooldownUpSeconds: 30, queuePerWorkerUp: 10 } }, 'Team A (prod)'), current);
    expect(plan).toEqual({
      action: 'configure',
      update: { name: 'Team A (prod)', max_workers: 4, policy: { cooldownUpSeconds: 30 } },
      scale: 2,
      changes: ['name: Team A -> Team A (prod)', 'max_workers: 3 -> 4', 'policy.cooldownUpSeconds: 60 -> 30', 'target_workers: 1 -> 2'],
      warnings: [],
    });
  });
  it('warns about what the API cannot change on an existing cluster', () => {
    expect(planCluster(declared({ blueprint_id: 'team-b', blueprint_version: '2.0.0' }), current).warnings).toHaveLength(2);
  });
});
