import { principalFromClaims } from '../auth/principal';
import { serviceAccountClientId, workflowSubmitter } from './workflow-submitter';

const principal = (claims: Record<string, unknown>) => principalFromClaims({ iss: 'https://idp.test/realms/r', sub: 's-1', ...claims }, 'platform-bff');

describe('who submits a workflow', () => {
  it("a Keycloak service account, recognised by its service-account username for the token's azp", () => {
    expect(serviceAccountClientId(principal({ azp: 'ci-pipeline', preferred_username: 'service-account-ci-pipeline' }))).toBe('ci-pipeline');
    expect(workflowSubmitter(principal({ azp: 'ci-pipeline', preferred_username: 'service-account-ci-pipeline' }))).toEqual({
      submittedBy: { type: 'service_account', clientId: 'ci-pipeline' },
    });
  });

  it('a service account marked with a client_id (or clientId) claim equal to azp', () => {
    expect(serviceAccountClientId(principal({ azp: 'ci', client_id: 'ci' }))).toBe('ci');
    expect(serviceAccountClientId(principal({ azp: 'ci', clientId: 'ci' }))).toBe('ci');
  });

  it('is never a user, nor a token whose marks disagree with its azp', () => {
    expect(serviceAccountClientId(principal({ azp: 'platform-bff', preferred_username: 'alice' }))).toBeUndefined();
    expect(serviceAccountClientId(principal({ azp: 'platform-bff', preferred_username: 'service-account-ci' }))).toBeUndefined();
    expect(serviceAccountClientId(principal({ azp: 'ci', client_id: 'other', preferred_username: 'service-account-ci' }))).toBeUndefined();
    expect(serviceAccountClientId(principal({ preferred_username: 'service-account-ci' }))).toBeUndefined();
  });

  it('a user submits as their email; without one the refusal is 403 claim_missing', () => {
    expect(workflowSubmitter(principal({ azp: 'platform-bff', email: 'alice@example.com' }))).toEqual({ email: 'alice@example.com' });
    expect(() => workflowSubmitter(principal({ azp: 'platform-bff', preferred_username: 'alice' }))).toThrow(
      expect.objectContaining({ reason: 'claim_missing' }) as Error,
    );
  });
});
