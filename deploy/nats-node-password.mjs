// The NATS passwords of the Kubernetes node agents (deploy/k8s), derived from one master key (key
// node-agent-master of the Secret flotilla-nats-users) so that no pod holds another node's password:
//
//   password(pod) = hex(HMAC-SHA256(master key, "flotilla-node-agent-" + pod name))
//
// Run by init containers, which alone mount the master key (the image copies this file beside
// healthcheck.mjs):
//
//   node nats-node-password.mjs password <master-key-file> <pod-name> <out-file>
//     a node agent's init container: its own pod's password, for the node agent's NATS_PASSWORD_FILE.
//   node nats-node-password.mjs auth-conf <master-key-file> <auth.conf> <out-file>
//     the NATS servers' init container: the generated auth.conf (ConfigMap nats-auth) with each
//     node-agent user's `password: $FLOTILLA_NATS_PASSWORD_...` replaced by that pod's derived
//     password. The service users keep their `$FLOTILLA_NATS_PASSWORD_<SERVICE>`, which the
//     server reads from its environment. (A variable defined in one included file is not seen by
//     another include, so the passwords go into auth.conf itself.)
//
// Files are written mode 0400 (the pods' fsGroup and user are the readers). Nothing secret is printed.
import crypto from 'node:crypto';
import fs from 'node:fs';

const USER_PREFIX = 'flotilla-node-agent-';
/** A pod name (DNS label), which is also one NATS subject token. */
const POD_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A node-agent user of the generated auth.conf and the reference to its password. */
const NODE_USER = /(\{ user: "flotilla-node-agent-([a-z0-9-]+)", password: )\$[A-Z_][A-Z0-9_]*/g;

function fail(message) {
  process.stderr.write(`nats-node-password: ${message}\n`);
  process.exit(1);
}

function masterKey(file) {
  let key;
  try {
    key = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    fail(`cannot read the master key ${file}: ${err.code ?? err.message}`);
  }
  if (/change_?me/i.test(key)) fail(`the master key ${file} is a placeholder: generate one (openssl rand -hex 32)`);
  if (key.length < 24) fail(`the master key ${file} is too short (at least 24 characters): generate one (openssl rand -hex 32)`);
  return key;
}

function derive(key, pod) {
  if (!POD_NAME.test(pod)) fail(`'${pod}' is not a pod name`);
  return crypto.createHmac('sha256', key).update(`${USER_PREFIX}${pod}`).digest('hex');
}

function write(file, text) {
  // A re-run init container finds its earlier (read-only) file: replace it.
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, text, { mode: 0o400, flag: 'wx' });
}

const [mode, keyFile, what, out] = process.argv.slice(2);
if (mode === 'password' && keyFile && what && out) {
  write(out, derive(masterKey(keyFile), what));
  process.stdout.write(`nats-node-password: wrote the NATS password of ${USER_PREFIX}${what} to ${out}\n`);
} else if (mode === 'auth-conf' && keyFile && what && out) {
  const key = masterKey(keyFile);
  let template;
  try {
    template = fs.readFileSync(what, 'utf8');
  } catch (err) {
    fail(`cannot read ${what}: ${err.code ?? err.message}`);
  }
  const users = [];
  const rendered = template.replace(NODE_USER, (_m, head, pod) => {
    users.push(pod);
    return `${head}${JSON.stringify(derive(key, pod))}`;
  });
  if (!users.length) fail(`${what} has no node-agent user (${USER_PREFIX}<pod>) to give a password`);
  write(out, rendered);
  process.stdout.write(`nats-node-password: wrote ${out} with the passwords of ${users.length} node-agent users (${users[0]} … ${users.at(-1)})\n`);
} else {
  fail('usage: nats-node-password.mjs password <master-key-file> <pod-name> <out-file>\n       nats-node-password.mjs auth-conf <master-key-file> <auth.conf> <out-file>');
}
