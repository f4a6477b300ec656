// Errors for files that cannot be read as what they claim to be. The message always starts with
// the file (or "member in archive") and says what is wrong with it.

export class FileFormatError extends Error {
  /** The file (or "member in archive") the problem is in. */
  readonly file: string;

  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.name = 'FileFormatError';
    this.file = file;
  }
}

/** A FileFormatError for a failed fs call: "file not found", "is a directory", or the system's words. */
export function fsError(file: string, err: unknown, what = 'file'): FileFormatError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return new FileFormatError(file, `${what} not found`, { cause: err });
  if (code === 'EISDIR') return new FileFormatError(file, `is a directory, expected a ${what}`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new FileFormatError(file, 'permission denied', { cause: err });
  const m = (err as { message?: unknown } | null)?.message;
  const msg = typeof m === 'string' ? m : String(err);
  return new FileFormatError(file, `cannot be read (${msg})`, { cause: err });
}
