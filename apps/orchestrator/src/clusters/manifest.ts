import {
  agentCounts,
  desiredAgents,
  hierarchy,
  isLive,
  redactUrl,
  type ExistingCluster,
  type HierarchyNode,
} from '@flotilla/domain';

const cell = (s: unknown) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function runtimeSummary(runtime: { kind: string } & Record<string, unknown>): string {
  switch (runtime.kind) {
    case 'builtin':
      return `builtin \`${String(runtime['handler'])}\``;
    case 'http':
      return `http ${String(runtime['method'] ?? 'POST')} ${redactUrl(String(runtime['url']))}`;
    case 'openai':
      return `openai-compatible \`${String(runtime['model'])}\` at ${redactUrl(String(runtime['baseUrl']))}`;
    default:
      return runtime.kind;
  }
}

function tree(node: HierarchyNode, depth = 0, out: string[] = []): string[] {
  const who = node.agentId
    ? `\`${node.agentId}\` (${node.state}${node.nodeId ? ` on ${node.nodeId}` : ''})`
    : '_missing_';
  out.push(
    `${'  '.repeat(depth)}- **${node.name}** #${node.ordinal} — ${node.role}, ${who}${node.desired ? '' : ', leaving'}`,
  );
  for (const child of node.children) tree(child, depth + 1, out);
  return out;
}

/**
 * The cluster's README and skills sheet, generated from its live state: what it is, who is in
 * it and reports to whom, what each agent can do and runs, and how it scales.
 */
export function renderManifest(state: ExistingCluster): string {
  const counts = agentCounts(state);
  const desired = desiredAgents(state);
  const live = Object.values(state.agents).filter(isLive);
  const lines: string[] = [
    `# ${state.name}`,
    '',
    state.description ? `> ${state.description}` : '> (no description)',
    '',
    `| | |`,
    `| --- | --- |`,
    `| id | \`${state.clusterId}\` |`,
    `| status | ${state.status}${state.status === 'degraded' ? ` — ${cell(state.degradedReason)}` : ''} |`,
    `| type | ${state.type} |`,
    `| blueprint | \`${state.blueprintId}\` v${state.blueprintVersion} |`,
    `| tenant | ${state.tenantId} |`,
    `| agents running | ${counts.running} of ${counts.desired} desired |`,
    `| workers | ${counts.runningWorkers} running, target ${state.targetWorkers} (min ${state.minWorkers}, max ${state.maxWorkers}) |`,
    `| circuit breaker | ${state.circuit}${state.backupCluster ? `, backup cluster \`${state.backupCluster}\`` : ''} |`,
    `| created | ${state.createdAt} |`,
    '',
    '## Agents',
    '',
    '| agent | role | instances (running/desired) | capabilities | runtime | reports to |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const spec of state.blueprint.agents) {
    const want = desired.filter((d) => d.name === spec.name).length;
    const running = live.filter((a) => a.name === spec.name && a.state === 'idle').length;
    lines.push(
      `| ${cell(spec.name)} | ${spec.role} | ${running}/${want} | ${spec.capabilities.map(cell).join(', ') || '—'} | ${cell(runtimeSummary(spec.runtime as never))} | ${spec.reportsTo ?? '—'} |`,
    );
  }
  const root = hierarchy(state);
  lines.push(
    '',
    '## Hierarchy',
    '',
    ...(root ? tree(root) : ['_no supervisor_']),
    '',
    '## Skills',
    '',
  );
  const skills = new Map<string, string[]>();
  for (const spec of state.blueprint.agents)
    for (const c of spec.capabilities) skills.set(c, [...(skills.get(c) ?? []), spec.name]);
  if (skills.size === 0) lines.push('_No capabilities declared: tasks go to the worker pool._');
  else {
    lines.push('| capability | offered by |', '| --- | --- |');
    for (const [capability, agents] of [...skills].sort(([a], [b]) => a.localeCompare(b)))
      lines.push(`| ${cell(capability)} | ${agents.map(cell).join(', ')} |`);
    lines.push(
      '',
      'Tasks that name a capability go to the agents offering it; the others go to the workers.',
    );
  }
  const p = state.policy;
  lines.push(
    '',
    '## Scaling',
    '',
    p.enabled
      ? [
          `- up by ${p.stepPercent} % (at least one worker) when the queue per worker exceeds ${p.queuePerWorkerUp} or CPU exceeds ${p.cpuUp} %;`,
          `- down by ${p.stepPercent} % when the queue per worker falls below ${p.queuePerWorkerDown} and CPU below ${p.cpuDown} %;`,
          `- cooldowns: ${p.cooldownUpSeconds} s after scaling up, ${p.cooldownDownSeconds} s after scaling down; stabilization window ${p.stabilizationSeconds} s;`,
          `- ${p.hibernateWhenIdleSeconds ? `hibernates after ${p.hibernateWhenIdleSeconds} s idle` : 'never hibernates on its own'}; ${p.wakeOnTask ? 'a queued task wakes it' : 'tasks do not wake it'}.`,
        ].join('\n')
      : '- automatic scaling is off; scale with `POST /api/clusters/{id}/scale`.',
  );
  if (state.lastDecision)
    lines.push(
      '',
      `Last decision (${state.lastDecision.at}): **${state.lastDecision.decision}** to ${state.lastDecision.target} — ${state.lastDecision.reason}`,
    );
  lines.push('');
  return lines.join('\n');
}
