// Writes libs/contracts/asyncapi.yaml from the built contracts (run after `nx run @flotilla/contracts:build`).
import fs from 'node:fs';
import path from 'node:path';
import { asyncApiYaml } from '@flotilla/contracts';

fs.writeFileSync(path.join(import.meta.dirname, '..', 'asyncapi.yaml'), asyncApiYaml());
process.stdout.write('wrote libs/contracts/asyncapi.yaml\n');
