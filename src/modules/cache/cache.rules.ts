import { isAuthenticated, isSystemAdmin } from '../../kernel/rules.js';

/** The cache spans every tenant: only system ADMINs see its statistics. */
export const cacheRules = {
  Query: {
    cacheStats: isSystemAdmin,
  },
  CacheStats: {
    hits: isAuthenticated,
    misses: isAuthenticated,
    hitRate: isAuthenticated,
    keys: isAuthenticated,
    usedMemoryBytes: isAuthenticated,
  },
};
