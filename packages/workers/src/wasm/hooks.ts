/** One bit per hook export; an instance keeps the set it still calls. */
export const Hook = {
  RequestHeaders: 1,
  RequestBody: 2,
  ResponseHeaders: 4,
  ResponseBody: 8,
  Log: 16,
} as const;

export type Hook = (typeof Hook)[keyof typeof Hook];
