import { expect } from '@jest/globals';
import { type Decider, fold } from '../decider.js';
import { FlotillaError, RuleViolationError } from '../errors.js';
import { isPlainJson } from '../json.js';

type ErrorClass = abstract new (...args: never[]) => FlotillaError;

/**
 * Given/when/then for deciders: given past events, when a command is decided, then these events
 * (or this typed error). Every emitted event is also checked to be plain JSON.
 */
export function deciderSpec<S, C, E extends { readonly type: string; readonly data: object }>(decider: Decider<S, C, E>) {
  return {
    given(events: readonly E[]) {
      return {
        when(command: C) {
          const decide = (): readonly E[] => decider.decide(command, fold(decider, events));
          return {
            then(expected: readonly E[]): void {
              const actual = decide();
              expect(actual).toEqual(expected);
              for (const e of actual) expect(isPlainJson(e.data)).toBe(true);
            },
            /** The emitted event types, in order (for cases where only the shape matters). */
            thenTypes(expected: readonly E['type'][]): void {
              const actual = decide();
              expect(actual.map((e) => e.type)).toEqual(expected);
              for (const e of actual) expect(isPlainJson(e.data)).toBe(true);
            },
            /** The events, for assertions beyond equality. */
            events(): readonly E[] {
              return decide();
            },
            thenThrows(errorClass: ErrorClass, rule?: string): void {
              let thrown: unknown;
              try {
                decide();
              } catch (err) {
                thrown = err;
              }
              expect(thrown).toBeInstanceOf(errorClass);
              if (rule !== undefined) {
                expect(thrown).toBeInstanceOf(RuleViolationError);
                expect((thrown as RuleViolationError).rule).toBe(rule);
              }
            },
          };
        },
      };
    },
  };
}

/** Captures a thrown error (for asserting class and code rather than message text). */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the function to throw');
}
