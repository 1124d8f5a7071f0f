import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { configPath, ContextFileError, readContextFile, resolveConnection, setContext, writeContextFile, type ContextFile } from './contexts.js';

const file: ContextFile = {
  'current-context': 'prod',
  contexts: [
    { name: 'prod', gateway: 'https://prod.example', api_key: 'prod-key' },
    { name: 'dev', gateway: 'http://dev.example' },
  ],
};
const defaults = { gateway: 'http://127.0.0.1:8080', apiKey: 'bootstrap' };

describe('resolveConnection: flags > environment > current context > defaults', () => {
  it('takes the current context when nothing else is given', () => {
    expect(resolveConnection({ flags: {}, env: {}, file, defaults })).toEqual({ gateway: 'https://prod.example', apiKey: 'prod-key', context: 'prod', sources: { gateway: 'context', apiKey: 'context' } });
  });
  it('lets the environment beat the context, and flags beat both', () => {
    const env = { GATEWAY_URL: 'http://env.example', FLOTILLA_API_KEY: 'env-key' };
    expect(resolveConnection({ flags: {}, env, file, defaults })).toMatchObject({ gateway: 'http://env.example', apiKey: 'env-key' });
    expect(resolveConnection({ flags: { gateway: 'http://flag.example', apiKey: 'flag-key' }, env, file, defaults })).toMatchObject({ gateway: 'http://flag.example', apiKey: 'flag-key', sources: { gateway: 'flag', apiKey: 'flag' } });
  });
  it('falls back field by field: a context without a key takes the default key', () => {
    expect(resolveConnection({ flags: { context: 'dev' }, env: {}, file, defaults })).toMatchObject({ gateway: 'http://dev.example', apiKey: 'bootstrap', sources: { gateway: 'context', apiKey: 'default' } });
  });
  it('uses the defaults without a config file, and refuses a --context that does not exist', () => {
    expect(resolveConnection({ flags: {}, env: {}, file: { contexts: [] }, defaults: { gateway: 'http://127.0.0.1:8080' } })).toMatchObject({ gateway: 'http://127.0.0.1:8080', apiKey: undefined, context: undefined });
    expect(() => resolveConnection({ flags: { context: 'nope' }, env: {}, file, defaults })).toThrow(ContextFileError);
  });
  it('ignores empty environment values', () => {
    expect(resolveConnection({ flags: {}, env: { GATEWAY_URL: '', FLOTILLA_API_KEY: '' }, file, defaults })).toMatchObject({ sources: { gateway: 'context', apiKey: 'context' } });
  });
});

describe('the config file', () => {
  it('lives under $FLOTILLA_CONFIG, else $XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ FLOTILLA_CONFIG: '/x/c.yaml', XDG_CONFIG_HOME: '/xdg' })).toBe('/x/c.yaml');
    expect(configPath({ XDG_CONFIG_HOME: '/xdg' })).toBe('/xdg/flotilla/config.yaml');
    expect(configPath({})).toBe(path.join(os.homedir(), '.config', 'flotilla', 'config.yaml'));
  });
  it('is written with mode 0600 and read back as written', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-ctx-'));
    try {
      const f = path.join(dir, 'sub', 'config.yaml');
      expect(readContextFile(f)).toEqual({ contexts: [] });
      writeContextFile(f, file);
      expect(fs.statSync(f).mode & 0o777).toBe(0o600);
      expect(readContextFile(f)).toEqual(file);
      fs.writeFileSync(f, 'contexts: 3\n');
      expect(() => readContextFile(f)).toThrow(ContextFileError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it('set-context adds a context or changes the fields given, keeping the others', () => {
    const changed = setContext(file, 'prod', { gateway: 'https://new.example' });
    expect(changed.contexts[0]).toEqual({ name: 'prod', gateway: 'https://new.example', api_key: 'prod-key' });
    expect(setContext(file, 'ci', { gateway: 'http://ci', api_key: 'k' }).contexts).toHaveLength(3);
    expect(() => setContext(file, 'new', {})).toThrow(/give it a --gateway/);
  });
});
