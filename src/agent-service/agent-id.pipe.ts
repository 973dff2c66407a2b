import { Injectable, type PipeTransform } from '@nestjs/common';
import { problem } from '../common/problem';
import { AGENT_ID } from './agent.model';

/** `:id` must be an agent id (a lowercase UUID): 400 otherwise, before any lookup. */
@Injectable()
export class AgentIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !AGENT_ID.test(value)) {
      throw problem.badRequest('id must be an agent id (UUID)', [{ field: 'id', message: 'id must be an agent id (UUID)' }]);
    }
    return value;
  }
}
