import { ApiPropertyOptional } from '@nestjs/swagger';
import { ProblemDto } from '../../common/problem.dto';

/**
 * A problem of an ML-Agent route. When ML-Agent itself answered a 4xx (other than 401) the status
 * is kept, the reason is `not_found` for a 404 and `upstream_error` otherwise, and ML-Agent's body
 * is passed through verbatim in `upstreamBody`.
 */
export class MlAgentProblemDto extends ProblemDto {
  @ApiPropertyOptional({
    description: 'When ML-Agent answered the error: its body, verbatim (JSON, or its text when it was not JSON)',
    example: { detail: "Catalog 'sales' not found" },
  })
  upstreamBody?: unknown;
}
