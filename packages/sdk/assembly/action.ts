/** What a hook tells the proxy. */
export enum Action {
  /** Go on to the next filter, then upstream. */
  Continue = 0,
  /**
   * Stop here: the request is answered with the reply this hook sent with
   * `ctx.sendLocalReply()` (500 if it sent none).
   */
  Stop = 1,
}
