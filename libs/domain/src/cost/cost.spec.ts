import { describe, expect, it } from '@jest/globals';
import { parseBlueprint } from '../blueprint/blueprint.parse.js';
import { resolveBlueprint } from '../blueprint/blueprint.resolve.js';
import { ValidationError } from '../errors.js';
import { readExample } from '../testing/files.js';
import { thrownBy } from '../testing/decider-spec.js';
import { agentHourPrice, agentPricing, agentSecondsCost, modelOf, periodStart, tokenCost, tokenUsageOf } from './cost.js';

const priced = (pricing: string) =>
  parseBlueprint(`apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: priced, name: priced, version: 1.0.0 }
cluster:
  type: team
  minWorkers: 1
  maxWorkers: 2
  pricing: ${pricing}
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, runtime: { kind: openai, baseUrl: 'http://127.0.0.1:9/v1', model: m1 } }
`);

describe('pricing', () => {
  it('resolves prices with their defaults; an agent is priced by role, else by runtime, else the default', () => {
    const r = resolveBlueprint(priced(`{ agentHour: { default: 0.1, roles: { worker: 2 }, runtimes: { builtin: 0.5, openai: 1 } }, models: { m1: { inputPer1k: 0.5, outputPer1k: 1.5 } } }`));
    expect(r.cluster.pricing).toEqual({
      currency: 'USD',
      agentHour: { default: 0.1, roles: { worker: 2 }, runtimes: { builtin: 0.5, openai: 1 } },
      models: { m1: { inputPer1k: 0.5, outputPer1k: 1.5 } },
    });
    expect(agentHourPrice(r.cluster.pricing, 'worker', 'openai')).toBe(2);
    expect(agentHourPrice(r.cluster.pricing, 'supervisor', 'builtin')).toBe(0.5);
    expect(agentHourPrice(r.cluster.pricing, 'lead', 'http')).toBe(0.1);
    expect(agentPricing(r.cluster.pricing, 'worker', 'openai')).toEqual({ currency: 'USD', agentHour: 2, models: { m1: { inputPer1k: 0.5, outputPer1k: 1.5 } } });
  });

  it('leaves an unpriced blueprint as it resolved before (no pricing key, the same hash): nothing costs anything', () => {
    const r = resolveBlueprint(parseBlueprint(readExample('marketing.yaml')));
    expect('pricing' in r.cluster).toBe(false);
    expect(agentHourPrice(r.cluster.pricing, 'worker', 'builtin')).toBe(0);
    expect(agentPricing(r.cluster.pricing, 'worker', 'builtin')).toBeUndefined();
  });

  it('refuses a negative price, an unknown role or runtime, and an unknown field, naming the path', () => {
    const issues = (pricing: string) => (thrownBy(() => priced(pricing)) as ValidationError).issues.map((i) => i.path);
    expect(issues(`{ agentHour: { default: -1 } }`)).toEqual(['cluster.pricing.agentHour.default']);
    expect(issues(`{ agentHour: { roles: { boss: 1 } } }`)[0]).toMatch(/^cluster\.pricing\.agentHour\.roles/);
    expect(issues(`{ agentHour: { runtimes: { gpu: 1 } } }`)[0]).toMatch(/^cluster\.pricing\.agentHour\.runtimes/);
    expect(issues(`{ currency: usd }`)).toEqual(['cluster.pricing.currency']);
    expect(issues(`{ models: { m1: { inputPer1k: 1 } } }`)).toEqual(['cluster.pricing.models.m1.outputPer1k']);
    expect(issues(`{ perTask: 1 }`)[0]).toMatch(/^cluster\.pricing/);
  });
});

describe('token usage and cost', () => {
  it('reads OpenAI usage and the input/output shape; none when the result reports none', () => {
    expect(tokenUsageOf({ content: 'x', usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } })).toEqual({ input: 12, output: 3 });
    expect(tokenUsageOf({ usage: { input_tokens: 7, output_tokens: 2 } })).toEqual({ input: 7, output: 2 });
    expect(tokenUsageOf({ usage: { prompt_tokens: 5 } })).toEqual({ input: 5, output: 0 });
    expect(tokenUsageOf({ usage: { prompt_tokens: -5, completion_tokens: 'many' } })).toBeNull();
    expect(tokenUsageOf({ content: 'x' })).toBeNull();
    expect(tokenUsageOf('text')).toBeNull();
    expect(tokenUsageOf(null)).toBeNull();
  });

  it('prices tokens per 1,000 at the model reported, else the one configured; an unpriced model costs nothing', () => {
    expect(modelOf({ model: 'm2' }, 'm1')).toBe('m2');
    expect(modelOf({ content: 'x' }, 'm1')).toBe('m1');
    expect(modelOf('text', null)).toBeNull();
    expect(tokenCost({ input: 1200, output: 300 }, { inputPer1k: 0.5, outputPer1k: 2 })).toBe(1.2);
    expect(tokenCost({ input: 1, output: 1 }, { inputPer1k: 0.003, outputPer1k: 0.006 })).toBe(0.000009);
    expect(tokenCost({ input: 1200, output: 300 }, undefined)).toBe(0);
  });

  it('prices agent time by the hour, and periods are UTC days and months', () => {
    expect(agentSecondsCost(1800, 3)).toBe(1.5);
    expect(agentSecondsCost(-5, 3)).toBe(0);
    const at = new Date('2026-12-06T15:04:05Z');
    expect(periodStart('day', at).toISOString()).toBe('2026-12-06T00:00:00.000Z');
    expect(periodStart('month', at).toISOString()).toBe('2026-12-01T00:00:00.000Z');
  });
});
