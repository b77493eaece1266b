/** A file the config names that cannot be read, said in a few words (the errno code, else the message). */

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'not found',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not found (a parent is not a directory)',
};

export function describeFileError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined) return FILE_ERRORS[code] ?? code;
  return error instanceof Error ? error.message : String(error);
}
