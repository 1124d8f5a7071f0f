import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { asyncApiDocument, asyncApiYaml } from './asyncapi.js';

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
  });
});
