/**
 * A strict reader of the Prometheus text exposition format (0.0.4): every line must be a
 * `# HELP`, a `# TYPE`, another comment, or a sample with a valid name, labels and value; a
 * family's TYPE comes before its samples and at most once. Throws on the first bad line.
 */
export interface Family {
  type: string;
  help?: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const VALUE = '(?:[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?)|[+-]?Inf|NaN)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL}="(?:[^"\\\\\\n]|\\\\[\\\\"n])*",?)*)\\})? (${VALUE})(?: (-?\\d+))?$`);
const LABEL_PAIR = new RegExp(`(${LABEL})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`, 'g');
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family | undefined => {
    const direct = families.get(sample);
    if (direct && !SUFFIXES[direct.type]) return direct;
    for (const [name, f] of families) {
      const suffixes = SUFFIXES[f.type];
      if (suffixes?.some((s) => sample === name + s)) return f;
    }
    return undefined;
  };
  text.split('\n').forEach((line, i) => {
    const where = `line ${i + 1} (${JSON.stringify(line.slice(0, 120))})`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!new RegExp(`^${NAME}$`).test(name!)) throw new Error(`${where}: bad metric name`);
      const f = families.get(name!) ?? { type: 'untyped', samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest!)) throw new Error(`${where}: unknown type`);
        if (families.get(name!)?.samples.length) throw new Error(`${where}: TYPE after samples`);
        f.type = rest!;
      } else f.help = rest!;
      families.set(name!, f);
      return;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`${where}: not a valid sample`);
    const [, name, labelText, value] = m;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (labelText ?? '').matchAll(LABEL_PAIR)) {
      if (k! in labels) throw new Error(`${where}: label ${k} twice`);
      labels[k!] = v!;
    }
    let f = familyOf(name!);
    if (!f) {
      f = { type: 'untyped', samples: [] };
      families.set(name!, f);
    }
    f.samples.push({ name: name!, labels, value: Number(value!.replace(/^\+/, '')) });
  });
  return families;
}
