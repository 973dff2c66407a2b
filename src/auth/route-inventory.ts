import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { RequestMethod, type Type } from '@nestjs/common';
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
    const out: RouteEntry[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as object | undefined;
      if (!instance) continue;
      const proto = Object.getPrototypeOf(instance) as object;
      const base = this.reflector.get<string | string[]>(PATH_METADATA, instance.constructor) ?? '';
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const fn = (proto as Record<string, unknown>)[name] as (...a: unknown[]) => unknown;
        const path = this.reflector.get<string | string[]>(PATH_METADATA, fn);
        if (path === undefined) continue;
        const method = RequestMethod[this.reflector.get<number>(METHOD_METADATA, fn) ?? 0];
        const route = this.policies.resolve(fn, instance.constructor as Type);
        const policy = route.kind === 'policy' ? route.policy : undefined;
        out.push({
          controller: instance.constructor.name,
          handler: name,
          method,
          path: `/${[base, path].flat().join('/')}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1'),
          policy: route.kind === 'self' ? `self:${route.table}` : policy?.rule,
          ...(policy?.kind === 'authenticated' && policy.anyRole?.length ? { roles: policy.anyRole } : {}),
          ...(policy?.kind === 'authenticated' && policy.audience ? { audience: policy.audience } : {}),
        });
      }
    }
    return out;
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
