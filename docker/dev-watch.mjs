// The first process of `cargo xtask dev`'s container (docker/compose.dev.yaml mounts this file and the service's
// folder, both read-only). It keeps /app, the image's copy of the service, in step with the folder on the host
// (mounted at XTASK_DEV_SOURCE) and runs the service:
//   - on each change under the source folder, the files that differ are copied into /app (written in place, as the
//     image's user: they are that user's, as the image's files are), and the ones deleted are deleted; what
//     .dockerignore keeps out of the image (secrets, node_modules, build output) stays out, and so do node_modules
//     and .git;
//   - then the service is stopped (SIGTERM; SIGKILL after 2 s) and started again, unless it watches for itself;
//   - when package.json or the lockfile differ from the image's, it exits with status 3: `cargo xtask dev` then
//     rebuilds the image and starts again.
// What runs:
//   XTASK_DEV_START=FILE     `node FILE`, from a spare node process started ahead that has already loaded the
//                            service's dependencies (require), so a restart costs only the service's own files; the
//                            inspector on XTASK_DEV_INSPECT (host:port);
//   XTASK_DEV_COMMAND=CMD    a shell command, the service's dev script: it watches for itself (tsc --watch,
//                            node --watch, nodemon...), and is only started again if it ended; with
//                            XTASK_DEV_RESTART=1, restarted on every change (`npm run build && node FILE`).
//
// Why not compose's `sync` with `node --watch`: the sync replaces every file it copies (a new inode), and node 20's
// watch mode follows files and lost them after an edit or two. This watches directories (inotify, through fs.watch),
// and writes files in place, so a watcher in the service's own dev script keeps them.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, watch } from 'node:fs';
import inspector from 'node:inspector';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, join, relative } from 'node:path';

const env = process.env;
const REBUILD = 3;

if (env.XTASK_DEV_SPARE) {
  // The spare: load what the service depends on, then wait for the word to run it (the main module, next).
  delete env.XTASK_DEV_SPARE;
  const require = createRequire(join(process.cwd(), 'package.json'));
  const { dependencies = {} } = JSON.parse(readFileSync('package.json', 'utf8'));
  for (const name of Object.keys(dependencies)) {
    try {
      require(name);
    } catch {
      // ESM only, or fails without the service around it: the service loads it itself.
    }
  }
  await new Promise((resolve) => process.once('message', resolve));
  if (env.XTASK_DEV_TRACE) console.error(`xtask dev: trace loaded ${Date.now()}`);
  process.disconnect();
  if (env.XTASK_DEV_INSPECT) {
    const [host, port] = env.XTASK_DEV_INSPECT.split(':');
    inspector.open(Number(port), host);
  }
} else {
  supervise();
}

// A file's bytes, or null.
function read(path) {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

function supervise() {
  const source = env.XTASK_DEV_SOURCE || '/src';
  const target = process.cwd();
  const skip = new Set(['node_modules', '.git']);
  const ignored = dockerignore(read(join(source, '.dockerignore'))?.toString() ?? '');
  const manifests = ['package.json', 'package-lock.json'];
  const watchers = new Map();
  let mirrored = new Set();
  let child = null;
  let spare = null;
  let timer = null;
  let queue = Promise.resolve();

  // Relative paths of the files under `dir`.
  function files(dir, rel = '', found = []) {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = join(rel, entry.name);
      if (skip.has(entry.name) || ignored(path)) continue;
      if (entry.isDirectory()) files(dir, path, found);
      else if (entry.isFile()) found.push(path);
    }
    return found;
  }

  // Copies into /app what differs (size or time) and deletes what was deleted; true when anything changed.
  function mirror() {
    const now = files(source);
    let changed = false;
    for (const rel of now) {
      if (manifests.includes(rel)) continue;
      const [from, to] = [join(source, rel), join(target, rel)];
      const stat = statSync(from);
      const old = statSync(to, { throwIfNoEntry: false });
      // Times within a millisecond: the image's are whole seconds, utimes' a little less than nanoseconds.
      if (old && old.size === stat.size && Math.abs(old.mtimeMs - stat.mtimeMs) < 1) continue;
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
      utimesSync(to, stat.atimeMs / 1000, stat.mtimeMs / 1000);
      changed = true;
    }
    const present = new Set(now);
    for (const rel of mirrored) {
      if (!present.has(rel)) {
        rmSync(join(target, rel), { force: true });
        changed = true;
      }
    }
    mirrored = present;
    return changed;
  }

  // Watches every directory of the source folder not watched yet (a new one appears with its first file).
  function watchTree(dir) {
    if (!watchers.has(dir)) {
      try {
        const watcher = watch(dir, changed);
        watcher.on('error', () => {
          watcher.close();
          watchers.delete(dir);
        });
        watchers.set(dir, watcher);
      } catch {
        return;
      }
    }
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && !skip.has(entry.name) && !ignored(relative(source, path))) watchTree(path);
    }
  }

  function startSpare() {
    spare = spawn(process.execPath, ['--import', import.meta.url, env.XTASK_DEV_START], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...env, XTASK_DEV_SPARE: '1' },
      detached: true,
    });
    spare.on('error', () => {});
  }

  function run() {
    trace('started');
    if (env.XTASK_DEV_START) {
      if (!spare?.connected) {
        stop(spare);
        startSpare();
      }
      child = spare;
      child.send('go');
      spare = null;
      // The next spare loads once the service is up, so as not to slow its start down.
      listening(Number(env.PORT) || 3000).then(() => spare || startSpare());
    } else {
      child = spawn('sh', ['-c', env.XTASK_DEV_COMMAND], { stdio: 'inherit', detached: true });
    }
    const running = child;
    running.on('exit', (code) => {
      if (running === child && code !== 0 && code !== null) {
        console.error(`xtask dev: the service exited with status ${code}; it starts again on the next change`);
      }
    });
  }

  // Stops a process and everything it started (its process group): SIGTERM, SIGKILL after 2 s.
  async function stop(process_, signal = 'SIGTERM') {
    if (!process_ || process_.exitCode !== null || process_.signalCode !== null) return;
    const exited = new Promise((resolve) => process_.once('exit', resolve));
    const kill = (sig) => {
      try {
        process.kill(-process_.pid, sig);
      } catch {
        // already gone
      }
    };
    kill(signal);
    const killer = setTimeout(() => kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(killer);
  }

  // XTASK_DEV_TRACE=1: when each step of a restart ended (xtask/bench/dev-loop.sh reads them).
  const trace = (step) => env.XTASK_DEV_TRACE && console.error(`xtask dev: trace ${step} ${Date.now()}`);

  async function update() {
    if (manifests.some((name) => !read(join(source, name))?.equals(read(join(target, name)) ?? Buffer.alloc(0)))) {
      console.error('xtask dev: package.json or the lockfile changed: the image is rebuilt');
      await Promise.all([stop(child), stop(spare)]);
      process.exit(REBUILD);
    }
    watchTree(source);
    if (!mirror() || !child) return;
    const running = child.exitCode === null && child.signalCode === null;
    if (env.XTASK_DEV_COMMAND && !env.XTASK_DEV_RESTART && running) return;
    trace('copied');
    console.error('xtask dev: files changed, restarting the service');
    await stop(child);
    trace('stopped');
    run();
  }

  // A burst of events (an editor's save, a checkout) is one update, 30 ms after the last event.
  function changed() {
    if (!timer) trace('seen');
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      queue = queue.then(update);
    }, 30);
  }

  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      for (const watcher of watchers.values()) watcher.close();
      clearTimeout(timer);
      queue.then(() => Promise.all([stop(child, signal), stop(spare)])).then(() => process.exit(0));
    });
  }

  if (!read(join(source, 'package.json'))) {
    console.error(`xtask dev: ${source} holds no package.json: the engine cannot see this machine's files (a remote engine?), so edits will not reach the service`);
    run();
    return;
  }
  if (env.XTASK_DEV_START) startSpare();
  queue = queue.then(async () => {
    await update();
    if (!child) run();
  });
}

// Resolves once something accepts connections on the port (the service is up), or after 10 s.
function listening(port) {
  const deadline = Date.now() + 10000;
  return new Promise((resolve) => {
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) resolve();
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

// .dockerignore's rules as docker applies them: `*`, `?` and `**`, a directory's rule covering what it holds, `!`
// exceptions, the last matching line deciding. Returns whether a relative path is left out.
function dockerignore(text) {
  const rules = [];
  for (let line of text.split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    const keep = line.startsWith('!');
    line = (keep ? line.slice(1) : line).trim().replace(/^\/+|\/+$/g, '');
    let body = '';
    for (let i = 0; i < line.length; i += 1) {
      if (line.startsWith('**/', i)) {
        body += '(?:.*/)?';
        i += 2;
      } else if (line.startsWith('**', i)) {
        body += '.*';
        i += 1;
      } else if (line[i] === '*') body += '[^/]*';
      else if (line[i] === '?') body += '[^/]';
      else body += line[i].replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    rules.push({ keep, regex: new RegExp(`^${body}$`) });
  }
  return (path) => {
    const parts = path.split('/');
    let left = false;
    for (const { keep, regex } of rules) {
      if (parts.some((_, i) => regex.test(parts.slice(0, i + 1).join('/')))) left = !keep;
    }
    return left;
  };
}
