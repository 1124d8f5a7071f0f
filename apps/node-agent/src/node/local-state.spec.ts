import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isValidId } from '@flotilla/domain';
import { AssignmentBook } from '../assignments/assignment-state.js';
import { LocalState } from './local-state.js';

describe('LocalState', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'flotilla-node-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('generates a node id once and keeps it; NODE_ID wins when set', async () => {
    const state = new LocalState(dir);
    const first = await state.nodeId(undefined);
    expect(isValidId('node', first)).toBe(true);
    expect(await new LocalState(dir).nodeId(undefined)).toBe(first);
    expect(await state.nodeId('node-3')).toBe('node-3');
  });

  it('keeps the assignments as of the last acked event, and forgets a corrupt copy', async () => {
    const state = new LocalState(dir);
    expect(await state.loadAssignments('node-3')).toBeNull();
    const book = new AssignmentBook('node-3');
    book.apply(7, {
      type: 'AgentAssigned',
      data: {
        agentId: 'agent-1',
        clusterId: 'cluster-1',
        resources: { cpu: 1, memoryMb: 1 },
        at: 'x',
      },
    });
    await state.saveAssignments(book.snapshot());
    const loaded = await state.loadAssignments('node-3');
    expect(loaded?.lastSeq).toBe(7);
    expect([...loaded!.agents.keys()]).toEqual(['agent-1']);
    await fs.writeFile(path.join(state.dir, 'node-3', 'assignments.json'), '{half');
    expect(await state.loadAssignments('node-3')).toBeNull();
  });

  it('remembers a drain it did itself until cleared', async () => {
    const state = new LocalState(dir);
    expect(await state.selfDrained('node-3')).toBe(false);
    await state.markSelfDrained('node-3');
    expect(await state.selfDrained('node-3')).toBe(true);
    await state.clearSelfDrained('node-3');
    expect(await state.selfDrained('node-3')).toBe(false);
  });
});
