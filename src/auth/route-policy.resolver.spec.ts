import { Reflector } from '@nestjs/core';
import { ADMIN_POLICY, AUTHENTICATED_POLICY, PUBLIC_POLICY } from './access-policy';
import { AllowBreakGlass, Audience, Authenticated, ExtAuthz, Public, Roles } from './decorators';
import { RoutePolicyResolver } from './route-policy.resolver';

/** What the guard, the route inventory and the hot routes' fast path all read a route's decorators as. */
describe('RoutePolicyResolver', () => {
  @Authenticated()
  class Controller {
    inherited() {}
    @Public()
    open() {}
    @Roles('ADMIN')
    admin() {}
    @Roles('ADMIN')
    @Audience('trino-gateway')
    adminForGateway() {}
    @Public()
    @Audience('trino-gateway')
    openWithAudience() {}
    @Authenticated({ policy: ADMIN_POLICY })
    @AllowBreakGlass('ops')
    breakGlass() {}
    @ExtAuthz('gateway')
    @Roles('ADMIN')
    selfAuthorizing() {}
  }
  class Undeclared {
    nothing() {}
  }
  @Audience('mlflow')
  class AudienceOnController {
    @Authenticated()
    route() {}
  }

  const resolver = new RoutePolicyResolver(new Reflector());
  const resolve = (controller: new () => object, name: string) => resolver.resolve((controller.prototype as Record<string, () => void>)[name], controller);

  it('reads the controller’s policy where the method declares none, and the method’s where it does', () => {
    expect(resolve(Controller, 'inherited')).toEqual({ kind: 'policy', policy: AUTHENTICATED_POLICY, breakGlass: undefined });
    expect(resolve(Controller, 'open')).toEqual({ kind: 'policy', policy: PUBLIC_POLICY, breakGlass: undefined });
    expect(resolve(Controller, 'admin')).toEqual({
      kind: 'policy',
      policy: { kind: 'authenticated', rule: 'roles:ADMIN', anyRole: ['ADMIN'] },
      breakGlass: undefined,
    });
  });

  it('merges an @Audience into an authenticated policy (from the method or the controller), never into a public one', () => {
    expect(resolve(Controller, 'adminForGateway')).toEqual({
      kind: 'policy',
      policy: { kind: 'authenticated', rule: 'roles:ADMIN', anyRole: ['ADMIN'], audience: 'trino-gateway' },
      breakGlass: undefined,
    });
    expect(resolve(AudienceOnController, 'route')).toEqual({ kind: 'policy', policy: { ...AUTHENTICATED_POLICY, audience: 'mlflow' }, breakGlass: undefined });
    expect(resolve(Controller, 'openWithAudience')).toEqual({ kind: 'policy', policy: PUBLIC_POLICY, breakGlass: undefined });
  });

  it('carries the break-glass scope beside the policy', () => {
    expect(resolve(Controller, 'breakGlass')).toEqual({ kind: 'policy', policy: ADMIN_POLICY, breakGlass: 'ops' });
  });

  it('an ext-authz route decides by its table, whatever policy it also declares', () => {
    expect(resolve(Controller, 'selfAuthorizing')).toEqual({ kind: 'self', table: 'gateway' });
  });

  it('a route without any declaration is undeclared (refused)', () => {
    expect(resolve(Undeclared, 'nothing')).toEqual({ kind: 'undeclared' });
  });

  it('resolves a handler once: the same answer every time', () => {
    const reflector = new Reflector();
    const counted = new RoutePolicyResolver(reflector);
    const read = jest.spyOn(reflector, 'getAllAndOverride');
    const handler = (Controller.prototype as unknown as Record<string, () => void>).admin;
    const first = counted.resolve(handler, Controller);
    const reads = read.mock.calls.length;
    expect(reads).toBeGreaterThan(0);
    expect(counted.resolve(handler, Controller)).toBe(first);
    expect(read.mock.calls.length).toBe(reads);
  });
});
