import type { DynamicModule, Type } from '@nestjs/common';
import { MODULE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { AppModule } from '../../src/app.module';
import { routesOf, type RouteEntry } from '../../src/auth/route-inventory';
import { RoutePolicyResolver } from '../../src/auth/route-policy.resolver';
import { createRootLogger } from '../../src/common/logging';
import type { AppConfig } from '../../src/config/app-config';

type ModuleLike = Type | DynamicModule | Promise<DynamicModule> | { forwardRef: () => ModuleLike };

/**
 * The controllers of the app, read from the modules' metadata (AppModule and everything it imports),
 * without creating the app: for tests over every route that need no request.
 */
export function appControllers(config: AppConfig): Type[] {
  const seen = new Set<unknown>();
  const controllers: Type[] = [];
  const visit = (m: ModuleLike | undefined): void => {
    if (!m || m instanceof Promise) return;
    if ('forwardRef' in m) return visit(m.forwardRef());
    const dynamic = 'module' in m ? m : undefined;
    const cls = dynamic ? dynamic.module : (m as Type);
    const key = dynamic ?? cls;
    if (seen.has(key)) return;
    seen.add(key);
    for (const c of [...((Reflect.getMetadata(MODULE_METADATA.CONTROLLERS, cls) as Type[]) ?? []), ...(dynamic?.controllers ?? [])]) {
      if (!controllers.includes(c)) controllers.push(c);
    }
    for (const i of [...((Reflect.getMetadata(MODULE_METADATA.IMPORTS, cls) as ModuleLike[]) ?? []), ...((dynamic?.imports as ModuleLike[]) ?? [])]) visit(i);
  };
  visit(AppModule.forRoot(config, createRootLogger(config)));
  return controllers;
}

/** The route inventory of the app, as RouteInventory lists it at boot, from the decorators alone. */
export function appRoutes(config: AppConfig): RouteEntry[] {
  return routesOf(appControllers(config), new RoutePolicyResolver(new Reflector()));
}
