import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { assertNodeVersion, ConfigError, loadConfig } from './config.js';

function problemsOf(env: Record<string, string>) {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('runs locally with no environment at all', () => {
    const cfg = loadConfig({});
    expect(cfg.NATS_URL).toEqual(['nats://127.0.0.1:4222']);
    expect(cfg.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/flotilla');
    expect(cfg.GATEWAY_HTTP_PORT).toBe(8080);
    expect(cfg.GATEWAY_GRPC_PORT).toBe(50051);
    expect(cfg.EVENT_STORE).toBe('postgres');
    expect(cfg.OTEL_ENABLED).toBe(false);
  });

  it('coerces numbers, booleans and lists', () => {
    const cfg = loadConfig({
      GATEWAY_HTTP_PORT: '9090',
      OTEL_ENABLED: 'true',
      NATS_URL: 'nats://127.0.0.1:4222, nats://127.0.0.2:4222',
      NODE_LABELS: 'gpu=true,tier=fast',
    });
    expect(cfg.GATEWAY_HTTP_PORT).toBe(9090);
    expect(cfg.OTEL_ENABLED).toBe(true);
    expect(cfg.NATS_URL).toEqual(['nats://127.0.0.1:4222', 'nats://127.0.0.2:4222']);
    expect(cfg.NODE_LABELS).toEqual(['gpu=true', 'tier=fast']);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ LOG_LEVEL: '' }).LOG_LEVEL).toBe('info');
  });

  it('names every bad variable, with what was expected and what it got', () => {
    const problems = problemsOf({ GATEWAY_HTTP_PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' });
    expect(problems.map((p) => p.variable).sort()).toEqual(['DATABASE_URL', 'GATEWAY_HTTP_PORT', 'LOG_LEVEL']);
    const port = problems.find((p) => p.variable === 'GATEWAY_HTTP_PORT');
    expect(port?.value).toBe('eighty');
    expect(port?.message).toMatch(/number/i);
  });

  it('requires EVENTSTORE_URL when the EventStoreDB adapter is chosen', () => {
    expect(problemsOf({ EVENT_STORE: 'eventstoredb' }).map((p) => p.variable)).toEqual(['EVENTSTORE_URL']);
  });

  it('keeps the offline threshold above the suspect threshold', () => {
    expect(problemsOf({ NODE_SUSPECT_AFTER_MS: '3000', NODE_OFFLINE_AFTER_MS: '2000' })[0]?.variable).toBe(
      'NODE_OFFLINE_AFTER_MS',
    );
  });

  it('never echoes secrets back', () => {
    const problems = problemsOf({ NATS_USER: 'svc' });
    expect(problems[0]?.variable).toBe('NATS_PASSWORD');
    expect(problems[0]?.value).toBeUndefined();
  });
});

describe('NATS_PASSWORD_FILE (the Kubernetes node agents read their derived password from one)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-config-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content, { mode: 0o400 });
    return p;
  };

  it('reads the password from the file once, without its trailing newline', () => {
    const config = loadConfig({ NATS_USER: 'flotilla-node-agent-node-agent-0', NATS_PASSWORD_FILE: file('password', 'derived-secret\n') });
    expect(config.NATS_PASSWORD).toBe('derived-secret');
    expect(config.NATS_USER).toBe('flotilla-node-agent-node-agent-0');
  });

  it('refuses NATS_PASSWORD and NATS_PASSWORD_FILE together', () => {
    const problems = problemsOf({ NATS_USER: 'u', NATS_PASSWORD: 'inline', NATS_PASSWORD_FILE: file('both', 'from-file') });
    expect(problems).toEqual([{ variable: 'NATS_PASSWORD_FILE', message: 'set either NATS_PASSWORD or NATS_PASSWORD_FILE, not both' }]);
  });

  it('refuses a missing or empty file, naming it, without echoing a password', () => {
    const missing = path.join(dir, 'missing');
    const problems = problemsOf({ NATS_USER: 'u', NATS_PASSWORD_FILE: missing });
    expect(problems[0]).toEqual({ variable: 'NATS_PASSWORD_FILE', message: `cannot read ${JSON.stringify(missing)} (ENOENT)` });
    expect(problemsOf({ NATS_USER: 'u', NATS_PASSWORD_FILE: file('empty', '\n') })[0]).toMatchObject({ variable: 'NATS_PASSWORD_FILE', message: expect.stringMatching(/is empty$/) });
  });

  it('still needs NATS_USER with a password from a file', () => {
    expect(problemsOf({ NATS_PASSWORD_FILE: file('alone', 'x') }).map((p) => p.variable)).toEqual(['NATS_PASSWORD']);
  });
});

describe('assertNodeVersion', () => {
  it('refuses Node 20 loudly and accepts 22', () => {
    expect(() => assertNodeVersion('20.20.2')).toThrow(/Node 22 or newer/);
    expect(() => assertNodeVersion('22.23.3')).not.toThrow();
  });
});

describe('production refuses placeholder secrets and weak JWT settings', () => {
  const strong = 'Zk3v9Qp1Lr8Xw2Tn6Yb4Hs0Ud7Mc5Ge1';
  const production = { NODE_ENV: 'production' };

  it.each(['CHANGE_ME_at_least_24_characters', 'change-me-change-me-change-me', 'CHANGEME-0123456789abcdefghij', 'replace-me-with-a-real-secret-please', 'flotilla-development-bootstrap-admin-key', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'])(
    'refuses %s as FLOTILLA_BOOTSTRAP_ADMIN_KEY and AUTH_JWT_SECRET with NODE_ENV=production',
    (value) => {
      const problems = problemsOf({ ...production, FLOTILLA_BOOTSTRAP_ADMIN_KEY: value, AUTH_JWT_SECRET: value, AUTH_JWT_ISSUER: 'i', AUTH_JWT_AUDIENCE: 'a' });
      expect([...new Set(problems.map((p) => p.variable))].sort()).toEqual(['AUTH_JWT_SECRET', 'FLOTILLA_BOOTSTRAP_ADMIN_KEY']);
      // The value is never echoed back.
      for (const p of problems) expect(p.value).toBeUndefined();
    },
  );

  it('refuses too-short secrets in every mode', () => {
    expect(problemsOf({ FLOTILLA_BOOTSTRAP_ADMIN_KEY: 'CHANGE_ME' }).map((p) => p.variable)).toEqual(['FLOTILLA_BOOTSTRAP_ADMIN_KEY']);
  });

  it('accepts a generated secret, and placeholders outside production (local runs, tests)', () => {
    expect(() => loadConfig({ ...production, FLOTILLA_BOOTSTRAP_ADMIN_KEY: strong })).not.toThrow();
    expect(() => loadConfig({ FLOTILLA_BOOTSTRAP_ADMIN_KEY: 'change-me-change-me-change-me' })).not.toThrow();
  });

  it('requires AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE in production when JWTs are enabled', () => {
    expect(problemsOf({ ...production, AUTH_JWT_SECRET: strong }).map((p) => p.variable).sort()).toEqual(['AUTH_JWT_AUDIENCE', 'AUTH_JWT_ISSUER']);
    expect(problemsOf({ ...production, AUTH_JWT_PUBLIC_KEY: 'pem', AUTH_JWT_ISSUER: 'https://idp' }).map((p) => p.variable)).toEqual(['AUTH_JWT_AUDIENCE']);
    expect(() => loadConfig({ ...production, AUTH_JWT_SECRET: strong, AUTH_JWT_ISSUER: 'https://idp', AUTH_JWT_AUDIENCE: 'flotilla' })).not.toThrow();
    expect(() => loadConfig({ AUTH_JWT_SECRET: strong })).not.toThrow();
    expect(() => loadConfig(production)).not.toThrow();
  });

  it('bounds the age of JWTs (AUTH_JWT_MAX_AGE_S, one hour by default)', () => {
    expect(loadConfig({}).AUTH_JWT_MAX_AGE_S).toBe(3600);
    expect(problemsOf({ AUTH_JWT_MAX_AGE_S: '0' })[0]?.variable).toBe('AUTH_JWT_MAX_AGE_S');
  });
});
