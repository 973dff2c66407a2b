import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { RoutePolicy, SelfAuthorizing } from './decorators';

export interface RouteEntry {
  controller: string;
  handler: string;
  method: string;
  path: string;
  policy: string | undefined;
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
        const self = this.reflector.getAllAndOverride(SelfAuthorizing, [fn, instance.constructor]);
        const policy = this.reflector.getAllAndOverride(RoutePolicy, [fn, instance.constructor]);
        out.push({
          controller: instance.constructor.name,
          handler: name,
          method,
          path: `/${[base, path].flat().join('/')}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1'),
          policy: self ? `self:${self}` : policy?.rule,
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
