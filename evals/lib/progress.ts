/** A progress bar on stderr (redrawn in place on a terminal, one line per step otherwise). */
export interface Progress {
  tick(n: number, label?: string): void;
  done(): void;
}

export function createProgress(total: number, stream: NodeJS.WriteStream = process.stderr, enabled = true): Progress {
  let count = 0;
  const started = Date.now();
  const tty = Boolean(stream.isTTY);
  const render = (label = '') => {
    if (!enabled) return;
    const width = 28;
    const filled = total ? Math.round((count / total) * width) : width;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const line = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${count}/${total} ${secs}s ${label}`;
    if (tty) stream.write(`\r\x1b[2K${line.slice(0, (stream.columns ?? 100) - 1)}`);
    else stream.write(`${line}\n`);
  };
  return {
    tick(n, label) {
      count += n;
      render(label);
    },
    done() {
      if (enabled && tty) stream.write('\n');
    },
  };
}
