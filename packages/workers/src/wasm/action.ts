/**
 * What the filter chain tells the request pipeline after each phase.
 *
 * - `Continue`: go on (forward the headers or the chunk, and anything withheld before it).
 * - `Buffer`: withhold what you have (headers, this chunk) and keep reading; a filter asked for
 *   the whole body. The body call with `end = true` decides.
 * - `LocalReply`: stop; answer with the reply recorded by `FilterRequest.sendLocalReply`.
 */
export const Action = {
  Continue: 0,
  Buffer: 1,
  LocalReply: 2,
} as const;

export type Action = (typeof Action)[keyof typeof Action];
