import { runService } from '@flotilla/platform';
import { metricsService } from './service.js';

await runService(metricsService);
