export {
  metadata,
  newEvent,
  runEventStoreContract,
  settled,
  type ContractTarget,
  type ContractTuning,
} from './event-store.contract.js';
export { holdCommitsOpen } from './hold-commits-open.js';
