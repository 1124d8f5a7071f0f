import { describe, expect, it } from '@jest/globals';
import { REDACTED, redactRuntime, redactRuntimeSecrets, redactUrl } from './blueprint.redact.js';

describe('runtime secrets are never shown (header values, credentials in URLs)', () => {
  it('keeps header names and replaces their values', () => {
    expect(
      redactRuntime({ kind: 'http', url: 'https://agents.example.com/run', method: 'POST', headers: { Authorization: 'Bearer sk-live', 'X-Team': 'growth' } }),
    ).toEqual({ kind: 'http', url: 'https://agents.example.com/run', method: 'POST', headers: { Authorization: REDACTED, 'X-Team': REDACTED } });
  });

  it('withholds user info and secret-looking query values of URLs, and leaves other URLs as written', () => {
    expect(redactUrl('https://user:pw@agents.example.com/run?api_key=abc&team=growth&X-Amz-Signature=s')).toBe(
      `https://${encodeURIComponent(REDACTED)}@agents.example.com/run?api_key=${encodeURIComponent(REDACTED)}&team=growth&X-Amz-Signature=${encodeURIComponent(REDACTED)}`,
    );
    expect(redactUrl('http://127.0.0.1:11434/v1')).toBe('http://127.0.0.1:11434/v1');
    expect(redactRuntime({ kind: 'openai', baseUrl: 'https://llm.example.com/v1?token=t', model: 'm', apiKeyEnv: 'AGENT_SECRET_KEY' })).toEqual({
      kind: 'openai',
      baseUrl: `https://llm.example.com/v1?token=${encodeURIComponent(REDACTED)}`,
      model: 'm',
      apiKeyEnv: 'AGENT_SECRET_KEY',
    });
  });

  it('finds every runtime inside a document or an event, and changes nothing else', () => {
    const event = {
      blueprint: {
        agents: [
          { name: 'boss', runtime: { kind: 'builtin', handler: 'echo' } },
          { name: 'hand', runtime: { kind: 'http', url: 'https://a.example.com/run', headers: { 'X-Api-Key': 'k' } } },
        ],
      },
      agent: { runtime: { kind: 'http', url: 'https://b.example.com/run', method: 'PUT', timeoutMs: 5, headers: { Cookie: 'c' } } },
      note: { kind: 'http', text: 'not a runtime' },
    };
    const shown = redactRuntimeSecrets(event);
    expect(shown.blueprint.agents[1]!.runtime).toEqual({ kind: 'http', url: 'https://a.example.com/run', headers: { 'X-Api-Key': REDACTED } });
    expect(shown.agent.runtime.headers).toEqual({ Cookie: REDACTED });
    expect(shown.blueprint.agents[0]).toEqual(event.blueprint.agents[0]);
    expect(shown.note).toEqual(event.note);
    expect(JSON.stringify(shown)).not.toMatch(/"k"|"c"/);
    // The input is not modified (the node agents' copy of the log keeps the values).
    expect(event.agent.runtime.headers.Cookie).toBe('c');
  });
});
