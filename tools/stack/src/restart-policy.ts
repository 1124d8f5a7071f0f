// When a service the runner started dies on its own, it is started again after an exponential
// backoff, as compose's `restart: always` and Kubernetes' CrashLoopBackOff do: 1 s, 2 s, 4 s ...
// up to 30 s, back to 1 s once a run lasted a minute. Not while the runner is stopping, and not
// after exit code 78 (a configuration error: the same settings would fail the same way).

export interface RestartPolicyOptions {
  /** Wait before the first restart. */
  readonly initialDelayMs: number;
  /** The longest wait between restarts. */
  readonly maxDelayMs: number;
  readonly factor: number;
  /** A run at least this long counts as healthy: the next crash waits `initialDelayMs` again. */
  readonly resetAfterMs: number;
  /** Exit codes no restart can fix. */
  readonly giveUpOn: readonly number[];
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  resetAfterMs: 60_000,
  // EX_CONFIG: the services exit with it when a variable does not parse (libs/config).
  giveUpOn: [78],
};

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** How long the process ran. */
  readonly uptimeMs: number;
}

export type RestartDecision =
  | { readonly restart: true; readonly delayMs: number; readonly restarts: number }
  | { readonly restart: false; readonly reason: string };

/** One service's restart state: consecutive quick crashes decide the backoff. */
export class RestartPolicy {
  private readonly options: RestartPolicyOptions;
  private streak = 0;
  private count = 0;

  constructor(options: Partial<RestartPolicyOptions> = {}) {
    this.options = { ...DEFAULT_RESTART_POLICY, ...options };
  }

  /** Restarts so far. */
  get restarts(): number {
    return this.count;
  }

  decide(exit: ProcessExit, stopping: boolean): RestartDecision {
    if (stopping) return { restart: false, reason: 'the runner is stopping' };
    if (exit.code !== null && this.options.giveUpOn.includes(exit.code)) {
      return { restart: false, reason: `exit code ${exit.code} is a configuration error; fix the setting its log names and start again` };
    }
    if (exit.uptimeMs >= this.options.resetAfterMs) this.streak = 0;
    const delayMs = Math.min(this.options.maxDelayMs, this.options.initialDelayMs * this.options.factor ** this.streak);
    this.streak++;
    this.count++;
    return { restart: true, delayMs: Math.round(delayMs), restarts: this.count };
  }
}

/** "exit code 1", "signal SIGKILL". */
export function describeExit(exit: Pick<ProcessExit, 'code' | 'signal'>): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code ?? 'unknown'}`;
}
