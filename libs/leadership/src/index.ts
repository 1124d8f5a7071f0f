export { answerPresence, decodeLease, EPOCHS_BUCKET, handoverRole, LeaderElection, memberKeyOf, LEASES_BUCKET, MEMBERS_BUCKET, openBuckets, readLeadership, type ElectionOptions, type HandoverOptions, type Leadership, type LeaseValue, type RoleLeadership } from './lease.js';
export { EPOCH_SHIFT, presenceSubject, termOf } from './campaign.js';
export { Fence, FencedOutError } from './fence.js';
export { runSingletonLoops, type SingletonLoop, type SingletonLoopsHandle, type SingletonLoopsOptions, type SingletonStatus } from './singleton-loops.js';
