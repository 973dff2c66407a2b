/** Who a break-glass request was made by (set by the BREAK_GLASS_AUTHENTICATOR once it accepted the request). */
export interface BreakGlassContext {
  user: string;
  scope: string;
}

const BREAK_GLASS = Symbol('bff.breakGlass');
type Carrier = { [BREAK_GLASS]?: BreakGlassContext };

export function setBreakGlassContext(req: object, ctx: BreakGlassContext): void {
  Object.defineProperty(req, BREAK_GLASS, { value: Object.freeze({ ...ctx }), enumerable: false, configurable: true });
}

export function getBreakGlassContext(req: object): BreakGlassContext | undefined {
  return (req as Carrier)[BREAK_GLASS];
}
