/** The audit log's settings: `--audit FILE` or PROXY_AUDIT_FILE, and `--audit-arguments` or PROXY_AUDIT_ARGUMENTS. */
import { read, switchVariable, variable } from './variables.js';

type Env = NodeJS.ProcessEnv;

export interface AuditSettings {
  /** The file that gets one JSON line per forwarded request (appended to, created 0600). */
  file: string;
  /** The request's arguments and its result go in the line too (redacted). */
  arguments: boolean;
}

const argumentsSchema = switchVariable('PROXY_AUDIT_ARGUMENTS');

/** The flags win over their variables; arguments without a file is a problem (it would silently do nothing). */
export function readAuditSettings(
  env: Env,
  flags: { audit?: string; auditArguments?: boolean } | undefined,
  problems: string[],
): AuditSettings | undefined {
  const file = flags?.audit ?? variable.parse(env.PROXY_AUDIT_FILE);
  const withArguments = flags?.auditArguments ?? read(argumentsSchema, env.PROXY_AUDIT_ARGUMENTS, false, problems);
  if (file === undefined) {
    if (withArguments)
      problems.push('--audit-arguments (or PROXY_AUDIT_ARGUMENTS) needs --audit FILE (or PROXY_AUDIT_FILE)');
    return undefined;
  }
  return { file, arguments: withArguments };
}
