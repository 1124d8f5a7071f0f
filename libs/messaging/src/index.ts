export const name = 'messaging';
