/**
 * Writes to stdout and waits for it to drain when its buffer is full, so a command that
 * prints a long listing (`map` of a fragmented 8 TB disk) holds no more than the pipe's
 * buffer in memory however slow the reader.
 */
export async function writeStdout(text: string): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      process.stdout.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      process.stdout.off('drain', onDrain);
      reject(error);
    };
    process.stdout.once('drain', onDrain);
    process.stdout.once('error', onError);
  });
}
