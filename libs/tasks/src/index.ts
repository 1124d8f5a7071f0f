export { ensureTaskStreams, MAX_DELIVER, TASK_ACK_WAIT_MS, TaskQueues, type TaskStreamOptions } from './task-queues.js';
export { TaskStore, type TaskRecord, type Versioned } from './task-store.js';
export { queuedTaskOf, recordOfQueuedTask, TaskIntake, type PreparedTask, type TaskIntakeOptions, type TaskSubmission } from './task-intake.js';
export { TaskLedger, TaskLedgerLoop, type LedgerEntry, type LedgerPass, type LoopState, type TaskLedgerLoopOptions } from './task-ledger.js';
export { listDeadLetters, type DeadLetter } from './dead-letters.js';
