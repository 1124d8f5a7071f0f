import { ValidationError } from '@flotilla/domain';

/**
 * Parses JSON after checking its nesting depth without building it, so a 1,000-deep document is
 * refused (400) instead of costing recursion further down.
 */
export function parseJsonWithDepthLimit(text: string, maxDepth: number): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth) throw new ValidationError(`JSON nested deeper than ${maxDepth} levels`, [{ path: '', message: `nesting deeper than ${maxDepth}` }], { max_depth: maxDepth });
    } else if (c === 125 || c === 93) depth--;
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`body is not valid JSON: ${(err as Error).message}`, [{ path: '', message: 'invalid JSON' }]);
  }
}
