// Builds the self-hosted GraphiQL page's assets into public/graphiql/ with esbuild:
//   graphiql-<hash>.js + chunk-<hash>.js   the app (ESM, code-split: Monaco and prettier load lazily)
//   graphiql-<hash>.css                    graphiql/style.css: GraphiQL, Monaco, fonts inlined as data:
//   {editor,json,graphql}.worker-<hash>.js the Monaco web workers (classic workers, self-contained)
//   manifest.json                          which entry script and stylesheet the HTML page links
// Every asset name carries a content hash, so the server can cache them as immutable; the same inputs
// always give the same files. Usage: `npm run build:graphiql`, or `buildGraphiqlAssets()`.
import { build, type Metafile, type Plugin } from 'esbuild';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GraphiqlManifest {
  /** File name (in the assets folder) of the page's ES module entry. */
  readonly script: string;
  /** File name of the page's stylesheet. */
  readonly stylesheet: string;
}

export interface GraphiqlBuildResult {
  readonly outDir: string;
  readonly manifest: GraphiqlManifest;
  readonly files: readonly string[];
  readonly bytes: number;
  readonly durationMs: number;
}

export const MANIFEST_FILE = 'manifest.json';

const ROOT_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_GRAPHIQL_ASSETS_DIR = path.join(ROOT_DIR, 'public', 'graphiql');
const APP_ENTRY = path.join(ROOT_DIR, 'src', 'server', 'graphiql', 'app.ts');

// The workers must come from the very monaco-editor/monaco-graphql copies the editor is bundled from
// (a worker of another Monaco version breaks the editor), so resolve them the way the bundled code
// does: from graphiql's dependency @graphiql/react, not from whatever the project root hoists.
const fromGraphiqlReact = createRequire(
  createRequire(createRequire(path.join(ROOT_DIR, 'package.json')).resolve('graphiql/package.json'))
    .resolve('@graphiql/react/package.json'),
);
const WORKER_ENTRIES = {
  editor: fromGraphiqlReact.resolve('monaco-editor/esm/vs/editor/editor.worker.js'),
  json: fromGraphiqlReact.resolve('monaco-editor/esm/vs/language/json/json.worker.js'),
  graphql: fromGraphiqlReact.resolve('monaco-graphql/esm/graphql.worker.js'),
} as const;
type WorkerName = keyof typeof WORKER_ENTRIES;

const COMMON = {
  absWorkingDir: ROOT_DIR,
  bundle: true,
  minify: true,
  target: 'es2022',
  platform: 'browser',
  logLevel: 'warning',
  metafile: true,
  define: { 'process.env.NODE_ENV': '"production"' },
} as const;

/**
 * Monaco's ESM modules import their own CSS files. graphiql/style.css already contains all of it
 * (with the codicon font inlined), and with code splitting esbuild would put CSS imported by the lazy
 * Monaco chunk into a stylesheet nobody loads, so those imports become empty modules.
 */
const skipMonacoCss: Plugin = {
  name: 'skip-monaco-css',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\.css$/ }, (args) =>
      /[\\/]node_modules[\\/]monaco-editor[\\/]/.test(args.importer)
        ? { path: args.path, namespace: 'skip-monaco-css' }
        : undefined);
    pluginBuild.onLoad({ filter: /.*/, namespace: 'skip-monaco-css' }, () => ({ contents: '', loader: 'js' }));
  },
};

export async function buildGraphiqlAssets(options: { outDir?: string } = {}): Promise<GraphiqlBuildResult> {
  const started = performance.now();
  const outDir = path.resolve(options.outDir ?? DEFAULT_GRAPHIQL_ASSETS_DIR);
  // Build next to the target and swap at the end: a running server never serves a half-written
  // folder, and files of earlier builds (old hashes) disappear.
  const stagingDir = `${outDir}.building-${process.pid}`;
  await rm(stagingDir, { recursive: true, force: true });
  await mkdir(stagingDir, { recursive: true });
  try {
    const workers = await build({
      ...COMMON,
      entryPoints: Object.entries(WORKER_ENTRIES).map(([name, input]) => ({ in: input, out: `${name}.worker` })),
      format: 'iife',
      outdir: stagingDir,
      entryNames: '[name]-[hash]',
    });
    const workerFiles = outputsByEntry(workers.metafile, stagingDir);
    const workerFileNames = Object.fromEntries(
      (Object.keys(WORKER_ENTRIES) as WorkerName[]).map((name) => [name, required(workerFiles, WORKER_ENTRIES[name]).js]),
    );

    const app = await build({
      ...COMMON,
      entryPoints: [{ in: APP_ENTRY, out: 'graphiql' }],
      format: 'esm',
      splitting: true,
      outdir: stagingDir,
      entryNames: '[name]-[hash]',
      chunkNames: 'chunk-[hash]',
      assetNames: '[name]-[hash]',
      define: { ...COMMON.define, __GRAPHIQL_WORKER_FILES__: JSON.stringify(workerFileNames) },
      // @graphiql/react imports prettier's plugins by their legacy names, which resolve to UMD files;
      // imported from an ES module they expose only `default`, so prettify fails ("Couldn't resolve
      // parser"). The ES module builds of the same plugins have the named exports it reads.
      alias: { 'prettier/parser-graphql': 'prettier/plugins/graphql', 'prettier/parser-babel': 'prettier/plugins/babel' },
      plugins: [skipMonacoCss],
    });
    const entry = required(outputsByEntry(app.metafile, stagingDir), APP_ENTRY);
    if (entry.css === undefined) throw new Error(`build-graphiql: ${APP_ENTRY} produced no stylesheet`);
    const manifest: GraphiqlManifest = { script: entry.js, stylesheet: entry.css };
    await writeFile(path.join(stagingDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);

    const bytes = [workers.metafile, app.metafile]
      .flatMap((metafile) => Object.values(metafile.outputs))
      .reduce((sum, output) => sum + output.bytes, 0);
    await rm(outDir, { recursive: true, force: true });
    await rename(stagingDir, outDir);
    const files = (await readdir(outDir)).sort();
    return { outDir, manifest, files, bytes, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    await rm(stagingDir, { recursive: true, force: true });
    throw error;
  }
}

interface EntryOutput { readonly js: string; readonly css: string | undefined }

/** Maps each entry point (absolute path) to its output file names. */
function outputsByEntry(metafile: Metafile, outDir: string): Map<string, EntryOutput> {
  const byEntry = new Map<string, EntryOutput>();
  for (const [outputPath, output] of Object.entries(metafile.outputs)) {
    if (output.entryPoint === undefined) continue;
    const css = output.cssBundle === undefined ? undefined : path.basename(output.cssBundle);
    byEntry.set(path.resolve(ROOT_DIR, output.entryPoint), { js: path.relative(outDir, path.resolve(ROOT_DIR, outputPath)), css });
  }
  return byEntry;
}

function required(outputs: Map<string, EntryOutput>, entryPoint: string): EntryOutput {
  const output = outputs.get(entryPoint);
  if (output === undefined) {
    throw new Error(`build-graphiql: no output for entry ${entryPoint}; got ${JSON.stringify([...outputs.keys()])}`);
  }
  return output;
}

if (import.meta.main) {
  const result = await buildGraphiqlAssets();
  const megabytes = (result.bytes / 1e6).toFixed(1);
  console.log(`build-graphiql: ${result.files.length} files, ${megabytes} MB in ${path.relative(process.cwd(), result.outDir) || '.'} (${result.durationMs} ms)`);
}
