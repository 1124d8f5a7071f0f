export const name = 'telemetry';
