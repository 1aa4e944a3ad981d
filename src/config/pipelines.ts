/**
 * Which domains share which source, on which routes: resolved from the configuration before
 * anything connects, so a route no enabled handler serves is a start-up error naming the
 * variable, not a stream of dead letters.
 */
import type { DomainPlugin } from '../domains/types.ts';
import { routeMatches, type SourceKind } from '../sources/kinds.ts';
import type { OutputDestination } from '../sources/types.ts';
import type { Config } from './index.ts';

export interface DomainBinding {
  readonly domain: string;
  readonly routes: ReadonlyArray<string>;
  readonly catchAll: boolean;
}

export interface PipelinePlan {
  readonly source: SourceKind;
  readonly domains: ReadonlyArray<DomainBinding>;
  /** What the source subscribes to: topics (KAFKA_TOPICS overrides), routing keys, subjects. */
  readonly subscription: ReadonlyArray<string>;
  /** What the broker must capture (JetStream stream subjects): the subscription, or wider. */
  readonly capture: ReadonlyArray<string>;
  /** Where the bound domains publish: declared at start by the source's publisher. */
  readonly outputs: ReadonlyArray<OutputDestination>;
}

/** The domain a route goes to: the one that registered it, else the source's single catch-all domain. */
export function routeOwner(plan: PipelinePlan, route: string): string | undefined {
  const owner = plan.domains.find((d) => d.routes.includes(route)) ?? plan.domains.find((d) => d.routes.some((r) => routeMatches(plan.source, r, route)));
  if (owner !== undefined) return owner.domain;
  const catchAll = plan.domains.filter((d) => d.catchAll);
  return catchAll.length === 1 ? catchAll[0]!.domain : undefined;
}

export function planPipelines(config: Config, plugins: ReadonlyArray<DomainPlugin>, problems: string[]): PipelinePlan[] {
  const bySource = new Map<SourceKind, DomainBinding[]>();
  const captures = new Map<SourceKind, string[]>();
  const outputs = new Map<SourceKind, Map<string, OutputDestination>>();
  for (const p of plugins) {
    const source = config.sources[p.name] ?? p.defaultSource;
    const routes = [...p.routes(config, source)];
    bySource.set(source, [...(bySource.get(source) ?? []), { domain: p.name, routes, catchAll: p.catchAll }]);
    captures.set(source, [...new Set([...(captures.get(source) ?? []), ...(p.capture?.(config) ?? routes)])]);
    const out = outputs.get(source) ?? new Map<string, OutputDestination>();
    for (const o of p.outputs(config, source)) if (!out.has(o.name)) out.set(o.name, o);
    outputs.set(source, out);
  }
  const plans: PipelinePlan[] = [];
  for (const [source, domains] of bySource) {
    const claimed = new Map<string, string>();
    for (const d of domains) {
      for (const r of d.routes) {
        const other = claimed.get(r);
        if (other !== undefined && other !== d.domain) problems.push(`domains ${other} and ${d.domain} both consume "${r}" on ${source}; bind one to another source or route`);
        claimed.set(r, d.domain);
      }
    }
    const own = [...claimed.keys()];
    const override = source === 'kafka' ? config.kafka.topics : source === 'mqtt' ? config.mqtt.topics : undefined;
    const variable = source === 'kafka' ? 'KAFKA_TOPICS' : 'MQTT_TOPICS';
    const plan: PipelinePlan = {
      source, domains, subscription: override ?? own, capture: override ?? captures.get(source) ?? own, outputs: [...(outputs.get(source)?.values() ?? [])],
    };
    if (override !== undefined) {
      for (const topic of override) {
        if (routeOwner(plan, topic) === undefined) {
          problems.push(`${variable}: no enabled handler is registered for topic "${topic}" (registered: ${own.map((r) => `${r} → ${claimed.get(r)}`).join(', ') || 'none'}); enable its domain in DOMAINS_ENABLED or register a handler`);
        }
      }
    }
    plans.push(plan);
  }
  return plans;
}
