import { runService } from '@flotilla/platform';
import { gatewayService } from './service.js';

await runService(gatewayService);
