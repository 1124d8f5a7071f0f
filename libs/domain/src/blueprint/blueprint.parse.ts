import { isNode, isPair, isSeq, parseDocument, stringify, visit, type Node as YamlNode } from 'yaml';
import { ValidationError, type ValidationIssue } from '../errors.js';
import type { Blueprint } from './blueprint.schema.js';
import { formatPath, validateBlueprint } from './blueprint.validate.js';

export type BlueprintFormat = 'yaml' | 'json';

export interface ParseOptions {
  /** Defaults to JSON when the text starts with `{`, YAML otherwise. */
  readonly format?: BlueprintFormat;
  /** Size limit in bytes (UTF-8); 256 KiB by default. */
  readonly maxBytes?: number;
  /**
   * Alias budget handed to yaml's `maxAliasCount` (which weighs each alias by the size of what it
   * expands to): a "billion laughs" document is refused instead of expanded. Default 100.
   */
  readonly maxAliasCount?: number;
}

export const DEFAULT_MAX_BLUEPRINT_BYTES = 256 * 1024;
const DEFAULT_MAX_ALIAS_COUNT = 100;

function refuse(issues: readonly ValidationIssue[]): never {
  throw ValidationError.of(issues, 'blueprint');
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

/** Parses a YAML or JSON blueprint safely and validates it (all issues at once). */
export function parseBlueprint(text: string, options: ParseOptions = {}): Blueprint {
  if (typeof text !== 'string') refuse([{ path: '', message: 'expected the blueprint as text' }]);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BLUEPRINT_BYTES;
  // A UTF-16 length above the limit means at least that many UTF-8 bytes: refuse without encoding.
  const bytes = text.length > maxBytes ? text.length : utf8Length(text);
  if (bytes > maxBytes) refuse([{ path: '', message: `document too large: ${bytes} bytes, the limit is ${maxBytes}` }]);
  const format = options.format ?? (text.trimStart().startsWith('{') ? 'json' : 'yaml');
  const raw = format === 'json' ? parseJson(text) : parseYaml(text, options.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT);
  return validateBlueprint(raw);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    return refuse([{ path: '', message: `invalid JSON: ${(err as Error).message}` }]);
  }
}

function parseYaml(text: string, maxAliasCount: number): unknown {
  let doc;
  try {
    doc = parseDocument(text, {
      version: '1.2',
      schema: 'core',
      customTags: [],
      merge: false,
      uniqueKeys: true,
      strict: true,
      prettyErrors: true,
    });
  } catch (err) {
    // Deeply nested input can exhaust the parser's stack; that is the caller's fault, not ours.
    return refuse([{ path: '', message: `invalid YAML: ${(err as Error).message}` }]);
  }
  const issues: ValidationIssue[] = [];
  // Unresolved tags are reported below, with their path.
  for (const problem of [...doc.errors, ...doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED')]) {
    issues.push({ path: '', message: `invalid YAML: ${problem.message.split('\n')[0]}` });
  }
  // Blueprints need no tags: refusing all of them shuts out !!binary, !!js/function and friends,
  // and any tag an attacker hopes some later consumer will resolve.
  visit(doc, (_key, node, ancestors) => {
    if (isNode(node) && (node as YamlNode).tag) {
      issues.push({ path: yamlPath(ancestors, node), message: `tags are not allowed (found ${(node as YamlNode).tag})` });
    }
  });
  if (issues.length > 0) refuse(dedupe(issues));
  try {
    return doc.toJS({ maxAliasCount });
  } catch (err) {
    if (err instanceof ReferenceError || err instanceof RangeError) {
      return refuse([{ path: '', message: 'too many aliases: the document expands beyond the alias budget (a "billion laughs" document is refused)' }]);
    }
    return refuse([{ path: '', message: `invalid YAML: ${(err as Error).message}` }]);
  }
}

function yamlPath(ancestors: readonly unknown[], node: unknown): string {
  const path: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const here = chain[i];
    const next = chain[i + 1];
    if (isPair(here) && next === here.value) {
      const key = isNode(here.key) && 'value' in here.key ? (here.key as { value: unknown }).value : here.key;
      path.push(String(key));
    } else if (isSeq(here)) {
      path.push(here.items.indexOf(next as never));
    }
  }
  return formatPath(path);
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => !seen.has(`${i.path}|${i.message}`) && seen.add(`${i.path}|${i.message}`) !== undefined);
}

/** Writes a blueprint as YAML or JSON; parsing the output gives back an equal blueprint. */
export function serializeBlueprint(blueprint: Blueprint, format: BlueprintFormat = 'yaml'): string {
  if (format === 'json') return `${JSON.stringify(blueprint, null, 2)}\n`;
  return stringify(blueprint, { lineWidth: 0, aliasDuplicateObjects: false });
}
