import { runService } from '@flotilla/platform';
import { orchestratorService } from './service.js';

await runService(orchestratorService);
