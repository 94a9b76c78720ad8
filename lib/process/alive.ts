/** Whether a process with this PID runs now, whoever owns it. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    // The process exists but belongs to another user.
    if (code === 'EPERM') return true;
    throw error;
  }
}
