import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { RequestMethod, type Type } from '@nestjs/common';
import { HotRoute } from './decorators';
import { RoutePolicyResolver } from './route-policy.resolver';

export interface RouteEntry {
  controller: string;
  handler: string;
  method: string;
  path: string;
  /** The rule of the route's policy (`self:<table>` for an ext-authz endpoint); undefined when it declares none. */
  policy: string | undefined;
  /** Roles of which the caller needs one, and an audience the token must carry (from @Audience), as the guard applies them. */
  roles?: readonly string[];
  audience?: string;
  /** The break-glass scope, on the routes where HTTP Basic may stand in for a bearer token (@AllowBreakGlass). */
  breakGlass?: string;
  /** The controller method that answers the route on the hot routes' fast path (@HotRoute). */
  hot?: string;
}

/** A route the fast path may answer, with what it needs to: its controller instance and handler. */
export interface HotRouteEntry {
  entry: RouteEntry & { hot: string };
  controller: object;
  handler: (...args: unknown[]) => unknown;
}

/** Every route of these controllers with the policy it declares, read from their decorators (no instance needed). */
export function routesOf(controllers: readonly Type[], policies: RoutePolicyResolver, reflector = new Reflector(), scanner = new MetadataScanner()): RouteEntry[] {
  const out: RouteEntry[] = [];
  for (const controller of controllers) {
    const proto = controller.prototype as object;
    const base = reflector.get<string | string[]>(PATH_METADATA, controller) ?? '';
    for (const name of scanner.getAllMethodNames(proto)) {
      const fn = (proto as Record<string, unknown>)[name] as (...a: unknown[]) => unknown;
      const path = reflector.get<string | string[]>(PATH_METADATA, fn);
      if (path === undefined) continue;
      const method = RequestMethod[reflector.get<number>(METHOD_METADATA, fn) ?? 0];
      const route = policies.resolve(fn, controller);
      const policy = route.kind === 'policy' ? route.policy : undefined;
      out.push({
        controller: controller.name,
        handler: name,
        method,
        path: `/${[base, path].flat().join('/')}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1'),
        policy: route.kind === 'self' ? `self:${route.table}` : policy?.rule,
        ...(policy?.kind === 'authenticated' && policy.anyRole?.length ? { roles: policy.anyRole } : {}),
        ...(policy?.kind === 'authenticated' && policy.audience ? { audience: policy.audience } : {}),
        ...(route.kind === 'policy' && route.breakGlass ? { breakGlass: route.breakGlass } : {}),
        ...(reflector.get(HotRoute, fn) ? { hot: reflector.get(HotRoute, fn) } : {}),
      });
    }
  }
  return out;
}

/**
 * Lists every HTTP route with the policy it declares. At bootstrap the app refuses to start
 * when any route declares none (deny by default, checked before the first request).
 */
@Injectable()
export class RouteInventory implements OnApplicationBootstrap {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly policies: RoutePolicyResolver,
  ) {}

  routes(): RouteEntry[] {
    return routesOf(
      this.controllers().map((c) => c.constructor as Type),
      this.policies,
      this.reflector,
      this.scanner,
    );
  }

  /** The routes marked @HotRoute, with their controller instances: the table of the hot routes' fast path. */
  hotRoutes(): HotRouteEntry[] {
    return this.controllers().flatMap((controller) =>
      routesOf([controller.constructor as Type], this.policies, this.reflector, this.scanner).flatMap((entry) =>
        entry.hot === undefined
          ? []
          : [{ entry: { ...entry, hot: entry.hot }, controller, handler: (controller as Record<string, HotRouteEntry['handler']>)[entry.handler] }],
      ),
    );
  }

  private controllers(): object[] {
    return this.discovery.getControllers().flatMap((w) => (w.instance ? [w.instance as object] : []));
  }

  onApplicationBootstrap(): void {
    const undeclared = this.routes().filter((r) => r.policy === undefined);
    if (undeclared.length > 0) {
      throw new Error(
        'Routes without an access policy (add @Public(), @Authenticated() or @Roles()):\n' +
          undeclared.map((r) => `  - ${r.method} ${r.path} (${r.controller}.${r.handler})`).join('\n'),
      );
    }
  }
}
