import { runService } from '@flotilla/platform';
import { autoscalerService } from './service.js';

await runService(autoscalerService);
