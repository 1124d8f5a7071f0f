import { describe, expect, it } from '@jest/globals';
import { AlreadyExistsError, NotFoundError, RuleViolationError, ValidationError } from '../errors.js';
import { marketingBlueprint } from '../testing/blueprints.js';
import { deciderSpec, thrownBy } from '../testing/decider-spec.js';
import type { BlueprintCommand } from './blueprint.commands.js';
import { blueprintDecider } from './blueprint.decider.js';
import type { BlueprintEvent } from './blueprint.events.js';
import { blueprintHash } from './blueprint.resolve.js';
import type { Blueprint } from './blueprint.schema.js';
import { fold } from '../decider.js';

const now = '2026-02-18T21:00:00.000Z';
const later = '2026-02-19T09:00:00.000Z';
const spec = deciderSpec(blueprintDecider);

const v1 = marketingBlueprint();
const withVersion = (bp: Blueprint, version: string, description?: string): Blueprint => ({
  ...bp,
  metadata: { ...bp.metadata, version, ...(description !== undefined ? { description } : {}) },
});
const v2 = withVersion(v1, '1.1.0', 'second edition');

const register = (blueprint: Blueprint, tenantId = 'acme', at = now): BlueprintCommand => ({ type: 'RegisterBlueprint', data: { blueprint, tenantId }, metadata: { now: at } });
const publish = (blueprint: Blueprint, at = later): BlueprintCommand => ({ type: 'PublishBlueprintVersion', data: { blueprint }, metadata: { now: at } });
const deprecate = (reason: string): BlueprintCommand => ({ type: 'DeprecateBlueprint', data: { reason }, metadata: { now: later } });

const registered: BlueprintEvent = {
  type: 'BlueprintRegistered',
  data: { blueprintId: 'marketing-v1', tenantId: 'acme', name: v1.metadata.name, version: '1.0.0', hash: blueprintHash(v1), document: v1, at: now },
};
const published: BlueprintEvent = {
  type: 'BlueprintVersionPublished',
  data: { blueprintId: 'marketing-v1', name: v1.metadata.name, version: '1.1.0', previousVersion: '1.0.0', hash: blueprintHash(v2), document: v2, at: later },
};
const deprecated: BlueprintEvent = { type: 'BlueprintDeprecated', data: { blueprintId: 'marketing-v1', reason: 'replaced by v2', at: later } };

describe('Blueprint decider', () => {
  describe('RegisterBlueprint', () => {
    it('registers a new blueprint', () => spec.given([]).when(register(v1)).then([registered]));
    it('is idempotent for the same content', () => spec.given([registered]).when(register(v1)).then([]));
    it('publishes a newer version sent to register', () =>
      spec.given([registered]).when(register(v2, 'acme', later)).then([published]));
    it('refuses the same version with different content', () =>
      spec.given([registered]).when(register(withVersion(v1, '1.0.0', 'edited'))).thenThrows(RuleViolationError, 'version_conflict'));
    it('refuses another tenant reusing the id', () => spec.given([registered]).when(register(v1, 'globex')).thenThrows(AlreadyExistsError));
    it('refuses an invalid document with its paths', () => {
      const err = thrownBy(() => blueprintDecider.decide(register({ ...v1, metadata: { ...v1.metadata, version: 'one' } }), blueprintDecider.initialState()));
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['metadata.version']);
    });
    it('refuses a malformed tenant id', () => spec.given([]).when(register(v1, 'Not A Tenant')).thenThrows(ValidationError));
    it('needs metadata.now', () =>
      spec.given([]).when({ type: 'RegisterBlueprint', data: { blueprint: v1, tenantId: 'acme' }, metadata: { now: 'yesterday' } }).thenThrows(ValidationError));
  });

  describe('PublishBlueprintVersion', () => {
    it('publishes a higher version', () => spec.given([registered]).when(publish(v2)).then([published]));
    it('is idempotent for a known version with the same content', () => spec.given([registered, published]).when(publish(v1)).then([]));
    it('refuses a lower version', () =>
      spec.given([registered, published]).when(publish(withVersion(v1, '1.0.5'))).thenThrows(RuleViolationError, 'version_not_increasing'));
    it('orders prereleases below releases', () =>
      spec.given([registered]).when(publish(withVersion(v1, '1.0.0-rc.1', 'rc'))).thenThrows(RuleViolationError, 'version_not_increasing'));
    it('refuses the same version with different content', () =>
      spec.given([registered, published]).when(publish(withVersion(v2, '1.1.0', 'changed again'))).thenThrows(RuleViolationError, 'version_conflict'));
    it('refuses a document of another blueprint', () =>
      spec
        .given([registered])
        .when(publish({ ...v2, metadata: { ...v2.metadata, id: 'sales-v1' } }))
        .thenThrows(RuleViolationError, 'blueprint_id_mismatch'));
    it('refuses an unknown blueprint', () => spec.given([]).when(publish(v2)).thenThrows(NotFoundError));
    it('refuses new versions of a deprecated blueprint', () =>
      spec.given([registered, deprecated]).when(publish(v2)).thenThrows(RuleViolationError, 'blueprint_deprecated'));
    it('still accepts a retry of a known version once deprecated', () => spec.given([registered, deprecated]).when(publish(v1)).then([]));
  });

  describe('DeprecateBlueprint', () => {
    it('deprecates', () => spec.given([registered]).when(deprecate('replaced by v2')).then([deprecated]));
    it('is idempotent', () => spec.given([registered, deprecated]).when(deprecate('again')).then([]));
    it('refuses an unknown blueprint', () => spec.given([]).when(deprecate('x')).thenThrows(NotFoundError));
    it('needs a reason', () => spec.given([registered]).when(deprecate('  ')).thenThrows(ValidationError));
  });

  it('folds versions into state', () => {
    const state = fold(blueprintDecider, [registered, published, deprecated]);
    expect(state).toMatchObject({
      status: 'deprecated',
      blueprintId: 'marketing-v1',
      latestVersion: '1.1.0',
      versions: { '1.0.0': blueprintHash(v1), '1.1.0': blueprintHash(v2) },
      deprecatedReason: 'replaced by v2',
    });
  });
});
