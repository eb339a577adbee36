/** Where a request comes from; recorded on sessions and audit events. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
}
