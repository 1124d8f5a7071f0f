/**
 * Lets Node (22.18+, which strips TypeScript types natively) run this library's sources without a
 * build: the sources import siblings as `./x.js` (what tsc and nodenext want), and this resolve
 * hook maps such a specifier to `./x.ts` when the importer is a .ts file. Import it first, then
 * load the sources with a dynamic import().
 */
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    const fromTs = context.parentURL?.endsWith('.ts') ?? false;
    if (fromTs && (specifier.startsWith('./') || specifier.startsWith('../')) && specifier.endsWith('.js')) {
      try {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      } catch {
        // Not a source file: resolve the specifier as written.
      }
    }
    return nextResolve(specifier, context);
  },
});
