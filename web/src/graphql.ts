import { initGraphQLTada } from 'gql.tada';
// Generated from the schema by `npm run codegen` (`gql.tada generate output`).
import type { introspection } from '../graphql-env.d.ts';

export const graphql = initGraphQLTada<{
  introspection: introspection;
  disableMasking: true;
  scalars: {
    /** RFC 3339 string, UTC on output. */
    DateTime: string;
    ID: string;
  };
}>();

export type { ResultOf, VariablesOf } from 'gql.tada';
