import { html, type TemplateResult } from 'lit';

/**
 * A small Markdown renderer for the cluster manifest (headings, lists, fenced code, tables as
 * text, paragraphs with `code` and **bold**), building Lit templates: the text is never parsed
 * as HTML, so nothing in a manifest can run.
 */
export function markdown(text: string): TemplateResult {
  const blocks: TemplateResult[] = [];
  const lines = text.split(/\r?\n/);
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.startsWith('```')) {
      const code: string[] = [];
      i++;
      while (i < lines.length && !lines[i]!.startsWith('```')) code.push(lines[i++]!);
      i++;
      blocks.push(html`<pre><code>${code.join('\n')}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      const level = heading[1]!.length;
      const content = inline(heading[2]!);
      blocks.push(level <= 2 ? html`<h3>${content}</h3>` : html`<h4>${content}</h4>`);
      i++;
      continue;
    }
    if (/^\s*[-*]\s+/.test(line)) {
      const items: TemplateResult[] = [];
      while (i < lines.length && /^\s*[-*]\s+/.test(lines[i]!))
        items.push(html`<li>${inline(lines[i++]!.replace(/^\s*[-*]\s+/, ''))}</li>`);
      blocks.push(
        html`<ul>
          ${items}
        </ul>`,
      );
      continue;
    }
    if (line.startsWith('|')) {
      const rows: string[] = [];
      while (i < lines.length && lines[i]!.startsWith('|')) rows.push(lines[i++]!);
      blocks.push(html`<pre>${rows.join('\n')}</pre>`);
      continue;
    }
    if (line.trim() === '') {
      i++;
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '' && !/^(#|```|\s*[-*]\s|\|)/.test(lines[i]!))
      para.push(lines[i++]!);
    blocks.push(html`<p>${inline(para.join(' '))}</p>`);
  }
  return html`<div class="md">${blocks}</div>`;
}

function inline(text: string): TemplateResult[] {
  const out: TemplateResult[] = [];
  const re = /(`[^`]+`|\*\*[^*]+\*\*)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(html`${text.slice(last, m.index)}`);
    const t = m[0];
    out.push(
      t.startsWith('`')
        ? html`<code>${t.slice(1, -1)}</code>`
        : html`<strong>${t.slice(2, -2)}</strong>`,
    );
    last = m.index + t.length;
  }
  if (last < text.length) out.push(html`${text.slice(last)}`);
  return out;
}
