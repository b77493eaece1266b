#!/usr/bin/env node
/**
 * The first step of `npm test`: the system programs the tests drive, installed from Debian when missing.
 *
 * - chromium: the status page e2e test drives a real browser through playwright-core (which brings none).
 * - ip (iproute2) and unshare (util-linux): the conformance run brings up loopback in a private network namespace.
 *
 * As root, or with passwordless sudo, the missing packages are installed with apt-get (noninteractive, after an
 * update); otherwise one line says what to install and the script exits 1, so `npm test` stops before building.
 * Plain JavaScript with no dependencies: it runs before the build, right after `npm ci`.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What the tests need: any one of `commands` found satisfies it; `package` is the Debian package providing it. */
const REQUIREMENTS = [
  {
    commands: ['chromium', 'chromium-browser'],
    override: 'CHROMIUM',
    package: 'chromium',
    why: 'the status page test drives it',
  },
  { commands: ['ip'], package: 'iproute2', why: 'the conformance run needs it' },
  { commands: ['unshare'], package: 'util-linux', why: 'the conformance run needs it' },
];

const log = (line) => process.stderr.write(`test prerequisites: ${line}\n`);

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks where the tests look: PATH, plus the sbin folders a non-root PATH often lacks (`ip` is in /usr/sbin). */
function findCommand(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  return dirs.filter(Boolean).some((dir) => isExecutable(join(dir, name)));
}

function isSatisfied(requirement) {
  // The status page test takes CHROMIUM first, so a browser named there counts (checked to be executable below).
  if (requirement.override && process.env[requirement.override]) return true;
  return requirement.commands.some(findCommand);
}

const missingPackages = () => REQUIREMENTS.filter((requirement) => !isSatisfied(requirement));

/** The command prefix that runs apt-get with root rights, or undefined when there is none without a password. */
function rootPrefix() {
  if (process.getuid?.() === 0) return [];
  const sudo = spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' });
  return sudo.status === 0 ? ['sudo', '-n'] : undefined;
}

/** Runs apt-get with root rights. Its output (hundreds of dpkg lines) is shown only when it fails. */
function aptGet(prefix, args) {
  // `env` carries DEBIAN_FRONTEND through sudo, which resets the environment. The lock timeout makes apt wait
  // for another apt on the same machine instead of failing at once.
  const command = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-o', 'DPkg::Lock::Timeout=300'];
  const [program, ...rest] = [...command, ...args];
  const result = spawnSync(program, rest, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) {
    process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    const why = result.error?.message ?? (result.signal ? `signal ${result.signal}` : `exit code ${result.status}`);
    log(`apt-get ${args.join(' ')} failed (${why})`);
    process.exit(1);
  }
}

// A CHROMIUM that names no program is a typo that installing chromium would not fix.
if (process.env.CHROMIUM && !isExecutable(process.env.CHROMIUM)) {
  log(`CHROMIUM is set to ${process.env.CHROMIUM}, which is not an executable file: fix it or unset it`);
  process.exit(1);
}

const missing = missingPackages();
if (missing.length > 0) {
  const packages = missing.map((requirement) => requirement.package);
  const reasons = missing.map((requirement) => `${requirement.package} (${requirement.why})`).join(', ');
  if (!findCommand('apt-get')) {
    log(`missing ${reasons}: install them with your system's package manager (these are the Debian names)`);
    process.exit(1);
  }
  const prefix = rootPrefix();
  if (prefix === undefined) {
    log(`missing ${reasons}: install as root with \`apt-get install ${packages.join(' ')}\`, then run npm test again`);
    process.exit(1);
  }
  log(`installing with apt-get: ${reasons}; this can take a few minutes`);
  aptGet(prefix, ['update', '-qq']);
  aptGet(prefix, ['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  const stillMissing = missingPackages();
  if (stillMissing.length > 0) {
    const names = stillMissing.map((requirement) => requirement.commands[0]).join(', ');
    log(`apt-get installed ${packages.join(' ')} but ${names} is still not found`);
    process.exit(1);
  }
  log(`installed ${packages.join(' ')}`);
}
