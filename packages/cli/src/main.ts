import { Command, CommanderError, Option } from 'commander';
import { debug } from './debug-mode.js';
import { parseOpenOptions } from './open-options.js';

const VERSION = '0.1.0';

const outputOption = (choices = ['human', 'json']) =>
  new Option('--output <format>', 'output format').choices(choices).default('human');
const formatOption = () => new Option('-f, --format <fmt>', 'image format (default: probe it)');
const openOption = () =>
  new Option('-o, --options <key=value,...>', 'format options, e.g. offset=1048576,size=8388608').argParser(
    parseOpenOptions,
  );

/**
 * Runs the CLI and returns its exit code. Commands (and core, with inversify) are imported
 * lazily, so `--help` loads only commander and `vdisk probe` nothing of what convert needs.
 */
export async function main(argv: string[], signal?: AbortSignal): Promise<number> {
  let exitCode = 0;
  let failingFile: string | undefined;
  const program = new Command('vdisk')
    .description('Probe, inspect and convert virtual disk images, after qemu-img')
    .version(VERSION, '-V, --version')
    .option('--debug', 'print stack traces with errors')
    .option(
      '--plugin <module>',
      'load a format plugin: a file or package exporting an inversify ContainerModule (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`vdisk: ${text.replace(/^error: /, '')}`) })
    .hook('preAction', async (cmd) => {
      const { debug: wantDebug, plugin } = cmd.opts<{ debug?: boolean; plugin?: string[] }>();
      debug.enabled = Boolean(wantDebug);
      if (plugin?.length) {
        const { loadPlugins } = await import('./plugins.js');
        await loadPlugins(plugin);
      }
    });

  program
    .command('probe')
    .description("detect the format of each file, with every driver's score")
    .argument('<file...>')
    .addOption(outputOption())
    .action(async (files: string[], opts) => {
      const { probeCommand } = await import('./commands/probe.js');
      exitCode = await probeCommand(files, { ...opts, signal });
    });

  /** A command over one image file, with -f, -o and --output; its errors name the file. */
  const imageCommand = (name: string, description: string, outputs?: string[]) =>
    program
      .command(name)
      .description(description)
      .argument('<file>')
      .addOption(formatOption())
      .addOption(openOption())
      .addOption(outputOption(outputs));

  imageCommand('info', "show an image's format, virtual size and format-specific details").action(
    async (file: string, opts) => {
      failingFile = file;
      const { infoCommand } = await import('./commands/info.js');
      exitCode = await infoCommand(file, { ...opts, signal });
    },
  );

  program
    .command('create')
    .description('create a new, empty image (an existing FILE is refused unless --force)')
    .argument('<file>')
    .argument('[size]', "the virtual size, in bytes or with qemu-img's suffixes k, M, G, T, P, E (powers of 1024)")
    .addOption(new Option('-f, --format <fmt>', 'image format').default('raw'))
    .addOption(
      new Option('-o, --options <key=value,...>', 'creation options, e.g. extent_size=65536').argParser(
        parseOpenOptions,
      ),
    )
    .option('--force', 'replace an existing FILE', false)
    .option(
      '-b, --backing-file <base>',
      "an overlay's base (bochs-redolog, vpc: a differencing VHD); its size is the image's when SIZE is not given",
    )
    .option('-F, --backing-format <fmt>', "the base's format (default: probe it)")
    .action(async (file: string, size: string | undefined, opts) => {
      const { createCommand } = await import('./commands/create.js');
      exitCode = await createCommand(file, size, opts);
    });

  program
    .command('convert')
    .description(
      'write the whole virtual disk as a new image of any format that can create (-O raw, bochs, bochs-sparse, vpc, vdi, vmdk)',
    )
    .argument('<src>')
    .argument('<dst>', 'a file, a block device (written in place), or - for raw bytes on stdout')
    .addOption(formatOption())
    .addOption(openOption())
    .addOption(new Option('-O, --output-format <fmt>', 'output format').makeOptionMandatory())
    .addOption(
      new Option(
        '--target-options <key=value,...>',
        "the new image's creation options (qemu-img convert's -o), e.g. extent_size=65536",
      ).argParser(parseOpenOptions),
    )
    .option(
      '-S, --sparse-size <size>',
      'zero blocks this big are not written (default 4k; 512 for -O bochs; 0: write all)',
    )
    .option('-p, --progress', 'show a progress bar on a terminal', false)
    .action(async (src: string, dst: string, opts) => {
      // No failingFile: convert names the file of each error itself (SRC, DST, or none for usage).
      const { convertCommand } = await import('./commands/convert.js');
      exitCode = await convertCommand(src, dst, { ...opts, signal });
    });

  imageCommand(
    'map',
    "show the image's allocation map: which ranges hold data and which read as zeros (svg: as a picture)",
    ['human', 'json', 'svg'],
  ).action(async (file: string, opts) => {
    failingFile = file;
    const { mapCommand } = await import('./commands/map.js');
    exitCode = await mapCommand(file, { ...opts, signal });
  });

  program
    .command('commit')
    .description(
      "write an overlay's sectors into its base and remove the overlay (qemu-img commit, bximage -func=commit)",
    )
    .argument('<file>')
    .addOption(formatOption())
    .addOption(openOption())
    .option('-b, --backup', 'keep the base as BASE.orig and the overlay as FILE.orig, as bximage -b', false)
    .action(async (file: string, opts) => {
      failingFile = file;
      const { commitCommand } = await import('./commands/commit.js');
      exitCode = await commitCommand(file, { ...opts, signal });
    });

  imageCommand('check', 'check the image for corruption and leaks (exit 0 clean, 2 corrupt, 3 leaks, 63 no check)')
    .addOption(
      new Option('-r, --repair <mode>', 'repair: leaks reclaims leaked space, all fixes what it can too').choices([
        'leaks',
        'all',
      ]),
    )
    .action(async (file: string, opts) => {
      failingFile = file;
      const { checkCommand } = await import('./commands/check.js');
      exitCode = await checkCommand(file, { ...opts, signal });
    });

  program
    .command('compare')
    .description('compare the contents of two images (exit 0 identical, 1 different, 2 error)')
    .argument('<a>')
    .argument('<b>')
    .option('-f, --format <fmt>', 'format of the first image (default: probe it)')
    .option('-F, --second-format <fmt>', 'format of the second image (default: probe it)')
    .option('-s, --strict', 'strict: images of different sizes or allocation differ', false)
    // qemu-img compare: 1 means "different", so its errors, usage errors too, exit 2.
    .exitOverride((error) => {
      throw error.exitCode === 0 ? error : new CommanderError(2, error.code, error.message);
    })
    .action(async (a: string, b: string, opts) => {
      failingFile = a;
      const { compareCommand } = await import('./commands/compare.js');
      exitCode = await compareCommand(a, b, { ...opts, signal });
    });

  program
    .command('io')
    .description("run qemu-io's commands on an image: read, write, discard, flush, map, info")
    .argument('<file>')
    .addOption(formatOption())
    .addOption(openOption())
    .option('-r, --read-only', 'open the image read-only', false)
    .option('-q, --quiet', 'no report lines after reads, writes and discards', false)
    .requiredOption(
      '-c, --cmd <command>',
      "a command, as qemu-io's -c: 'write -P 0xab 0 64k', 'read -v 0 512' (repeatable, run in order)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(async (file: string, opts) => {
      failingFile = file;
      const { ioCommand } = await import('./commands/io.js');
      exitCode = await ioCommand(file, { ...opts, signal });
    });

  program
    .command('serve')
    .description('serve the image over NBD until SIGINT or SIGTERM (after qemu-nbd)')
    .argument('<file>')
    .addOption(formatOption())
    .addOption(openOption())
    .option('--read-only', 'serve it read-only (clients get EPERM for writes)', false)
    .option(
      '--snapshot',
      'writes go to a temporary overlay, deleted on exit: the image never changes (QEMU -snapshot)',
      false,
    )
    .option('--socket <path>', 'listen on this Unix socket')
    .option('--port <n>', 'listen on this TCP port (0: any free port)')
    .option('--bind <addr>', 'with --port: the address to listen on (default 127.0.0.1)')
    .option('--export <name>', 'the export name (default: the empty name)', '')
    .action(async (file: string, opts) => {
      // Usage errors name no file; open errors carry the file's name themselves.
      const { serveCommand } = await import('./commands/serve.js');
      exitCode = await serveCommand(file, { ...opts, signal });
    });

  program
    .command('formats')
    .description('list the registered formats and their capabilities')
    .addOption(outputOption())
    .action(async (opts) => {
      const { formatsCommand } = await import('./commands/formats.js');
      exitCode = await formatsCommand(opts);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with 0; usage errors were printed already (exit 1,
      // or compare's 2).
      return error.exitCode;
    }
    const { reportError } = await import('./error-line.js');
    reportError(error, failingFile);
    return 1;
  }
  return exitCode;
}
