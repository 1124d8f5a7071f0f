import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@flotilla/domain';
import { parseJsonWithDepthLimit } from './json-depth.js';

describe('parseJsonWithDepthLimit', () => {
  it('parses ordinary JSON, strings with brackets included', () => {
    expect(parseJsonWithDepthLimit('{"a":[1,{"b":"[[[{{{\\"}"}]}', 3)).toEqual({ a: [1, { b: '[[[{{{"}' }] });
  });

  it('refuses documents nested deeper than the limit', () => {
    const deep = `${'['.repeat(1000)}${']'.repeat(1000)}`;
    expect(() => parseJsonWithDepthLimit(deep, 64)).toThrow(ValidationError);
    expect(parseJsonWithDepthLimit(`${'['.repeat(64)}${']'.repeat(64)}`, 64)).toBeDefined();
  });

  it('reports malformed JSON as a validation error', () => {
    expect(() => parseJsonWithDepthLimit('{"a":', 64)).toThrow(ValidationError);
  });
});
