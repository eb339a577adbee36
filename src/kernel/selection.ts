import { type FieldNode, type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';

/**
 * Whether the operation asks, below the field being resolved, for the field at `path` (e.g.
 * `['edges', 'node', 'sessions']`), through fragments too. Directives are not evaluated: a field
 * under `@skip` counts as asked for, which at worst loads something unused.
 */
export function selects(info: GraphQLResolveInfo, path: readonly string[]): boolean {
  return info.fieldNodes.some((node) => selectsIn(node.selectionSet, path, info, new Set()));
}

function selectsIn(
  set: SelectionSetNode | undefined,
  path: readonly string[],
  info: GraphQLResolveInfo,
  visited: Set<string>,
): boolean {
  if (!set || path.length === 0) return false;
  const [name, ...rest] = path;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (
        selection.name.value === name &&
        (rest.length === 0 || selectsIn(childrenOf(selection), rest, info, visited))
      ) {
        return true;
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (selectsIn(selection.selectionSet, path, info, visited)) return true;
    } else if (!visited.has(selection.name.value)) {
      visited.add(selection.name.value);
      if (selectsIn(info.fragments[selection.name.value]?.selectionSet, path, info, visited)) return true;
    }
  }
  return false;
}

const childrenOf = (field: FieldNode) => field.selectionSet;
