import { describe, expect, it } from '@jest/globals';
import { ValidationError } from './errors.js';
import { aggregateOfStream, blueprintStream, clusterStream, isValidId, newId, nodeStream, parseId } from './ids.js';
import { thrownBy } from './testing/decider-spec.js';

describe('ids', () => {
  it('generates time-sortable TypeIDs with the kind as prefix', () => {
    const a = newId('cluster');
    const b = newId('cluster');
    expect(a).toMatch(/^cluster_[0-7][0-9a-hjkmnp-tv-z]{25}$/);
    expect(isValidId('cluster', a)).toBe(true);
    expect(a <= b).toBe(true);
  });

  it('accepts client-chosen DNS labels', () => {
    for (const id of ['cluster-test-001', 'node-2', 'marketing-v1', 'a', '0']) expect(isValidId('cluster', id)).toBe(true);
  });

  it('refuses the wrong prefix, bad labels and non-strings', () => {
    expect(isValidId('cluster', newId('node'))).toBe(false);
    for (const bad of ['', '-x', 'x-', 'UPPER', 'under_score', 'a'.repeat(64), 'cluster_zzz', 42, null]) {
      expect(isValidId('cluster', bad)).toBe(false);
    }
  });

  it('parseId names the field in its ValidationError', () => {
    expect(parseId('node', 'node-2')).toBe('node-2');
    const err = thrownBy(() => parseId('agent', 'Agent 7', 'agents[3].agentId'));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]?.path).toBe('agents[3].agentId');
    expect((thrownBy(() => parseId('agent', 7)) as ValidationError).issues[0]?.path).toBe('agentId');
  });

  it('maps ids to stream ids and back', () => {
    expect(clusterStream('cluster-test-001')).toBe('cluster-cluster-test-001');
    expect(blueprintStream('marketing-v1')).toBe('blueprint-marketing-v1');
    expect(nodeStream('node-2')).toBe('node-node-2');
    expect(aggregateOfStream('node-node-2')).toEqual({ aggregate: 'node', id: 'node-2' });
    const typed = newId('cluster');
    expect(aggregateOfStream(clusterStream(typed))).toEqual({ aggregate: 'cluster', id: typed });
    expect(thrownBy(() => aggregateOfStream('task-1'))).toBeInstanceOf(ValidationError);
    expect(thrownBy(() => aggregateOfStream('cluster-'))).toBeInstanceOf(ValidationError);
  });
});
