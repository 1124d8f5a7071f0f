import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { asyncApiDocument, asyncApiYaml } from './asyncapi.js';
import * as contracts from './index.js';

describe('AsyncAPI document', () => {
  it('is committed as generated (run `npm run asyncapi -w @flotilla/contracts` after changing a route)', () => {
    expect(fs.readFileSync(path.join(import.meta.dirname, '..', 'asyncapi.yaml'), 'utf8')).toBe(
      asyncApiYaml(),
    );
  });

  it('documents the event subjects and every request/reply route', () => {
    const doc = asyncApiDocument() as { channels: Record<string, { address: string | null }> };
    const addresses = Object.values(doc.channels).map((c) => c.address);
    expect(addresses).toContain('flotilla.events.{aggregate}.{aggregateId}.{eventType}');
    expect(addresses).toContain('orchestrator.clusters.scale');
    expect(addresses).toContain('registry.placement.place');
    expect(addresses).toContain('registry.heartbeats.{nodeId}');
    // A node agent's own-node routes: the node is the subject's, so a node speaks only for itself.
    expect(addresses).toEqual(expect.arrayContaining(['orchestrator.agents.report.{nodeId}', 'registry.nodes.register.{nodeId}', 'registry.nodes.drain.{nodeId}']));
    // Every route any service answers, whichever group it belongs to.
    const routeSubjects = Object.entries(contracts)
      .filter(([name]) => name.endsWith('Routes'))
      .flatMap(([, group]) => Object.values(group as Record<string, { subject: string }>).map((r) => r.subject.replace(/\.\*$/, '.{nodeId}')));
    expect(routeSubjects.length).toBeGreaterThan(40);
    expect(routeSubjects.filter((subject) => !addresses.includes(subject))).toEqual([]);
    // And the subjects services publish on.
    for (const address of ['flotilla.taskq.{clusterId}.{priority}.{capability}', 'flotilla.taskdlq.{clusterId}.{taskId}', 'flotilla.tasks.{clusterId}.{taskId}.{outcome}', 'metrics.telemetry.{nodeId}', 'metrics.snapshots.{clusterId}', 'orchestrator.apikeys.revoked'])
      expect(addresses).toContain(address);
  });
});
