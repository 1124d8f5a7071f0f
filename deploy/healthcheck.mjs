// Container health check (Dockerfile HEALTHCHECK, docker-compose `healthcheck`): GET /live on the
// service's own *_HTTP_PORT. Exit 0 when it answers 2xx within 2.5 s, else 1. `APP` is set by the
// image (--build-arg APP=...).
const ports = {
  gateway: ['GATEWAY_HTTP_PORT', 8080],
  orchestrator: ['ORCHESTRATOR_HTTP_PORT', 8081],
  registry: ['REGISTRY_HTTP_PORT', 8082],
  autoscaler: ['AUTOSCALER_HTTP_PORT', 8083],
  metrics: ['METRICS_HTTP_PORT', 8084],
  'node-agent': ['NODE_AGENT_HTTP_PORT', 8085],
};
const [variable, fallback] = ports[process.env.APP] ?? ['GATEWAY_HTTP_PORT', 8080];
const port = process.env[variable] || fallback;
try {
  const res = await fetch(`http://127.0.0.1:${port}/live`, { signal: AbortSignal.timeout(2500) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
