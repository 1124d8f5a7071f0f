export {
  metadata,
  newEvent,
  runEventStoreContract,
  settled,
  type ContractTarget,
  type ContractTuning,
} from './event-store.contract.js';
