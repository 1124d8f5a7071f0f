// The domain library's lint rules: the workspace's rules (including the layer boundaries) plus
// purity guards the boundary rule cannot express, since Node built-ins are not Nx projects.
// Tests and test helpers (src/**/testing) may read files and clocks; library code may not.
import workspace from '../../eslint.config.js';

const NO_IO = 'The domain does no I/O: the only Node built-in it may use is node:crypto.';

export default [
  ...workspace,
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.spec.ts', 'src/**/testing/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(node:(?!crypto$).*|fs|fs/.*|path|os|child_process|net|https?|http2|dns|dgram|tls|worker_threads|cluster|process)$',
              message: NO_IO,
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'No clocks in the domain: time arrives on the command (metadata.now) or as an argument.' },
        { object: 'Math', property: 'random', message: 'No unseeded randomness in the domain: use createPrng(seed) from random.ts.' },
        { object: 'performance', property: 'now', message: 'No clocks in the domain.' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'No clocks in the domain: time arrives on the command (metadata.now).' },
        { selector: "CallExpression[callee.name='Date']", message: 'No clocks in the domain: Date() reads the current time.' },
        { selector: "MemberExpression[object.name='process']", message: NO_IO },
      ],
    },
  },
];
