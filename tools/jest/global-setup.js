// Fails the run loudly when Jest was started by a Node older than the one the repo brings.
export default function globalSetup() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    throw new Error(
      `Flotilla needs Node 22 or newer, but Jest runs on ${process.version}. ` +
        'Run tests through npm (npm test), which puts the repo\'s own Node 22 first on the PATH.',
    );
  }
}
