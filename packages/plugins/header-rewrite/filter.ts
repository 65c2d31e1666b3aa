import { Action, Context, Filter, Headers, JsonValue, register } from "@pillion/sdk/assembly";

/** One side's rules: remove, then set, then add. */
class Rules {
  remove: string[] = [];
  setNames: string[] = [];
  setValues: string[] = [];
  addNames: string[] = [];
  addValues: string[] = [];

  constructor(config: JsonValue) {
    this.remove = config.getStringArray("remove");
    const set = config.getObject("set");
    for (let i = 0; i < set.keys.length; i++) {
      this.setNames.push(set.keys[i]);
      this.setValues.push(set.items[i].asString(set.keys[i]));
    }
    const add = config.getObject("add");
    for (let i = 0; i < add.keys.length; i++) {
      this.addNames.push(add.keys[i]);
      this.addValues.push(add.items[i].asString(add.keys[i]));
    }
  }

  apply(headers: Headers): void {
    for (let i = 0; i < this.remove.length; i++) headers.remove(this.remove[i]);
    for (let i = 0; i < this.setNames.length; i++) headers.set(this.setNames[i], this.setValues[i]);
    for (let i = 0; i < this.addNames.length; i++) headers.add(this.addNames[i], this.addValues[i]);
  }
}

class HeaderRewrite extends Filter {
  request: Rules = new Rules(new JsonValue());
  response: Rules = new Rules(new JsonValue());

  configure(config: JsonValue): void {
    this.request = new Rules(config.getObject("request"));
    this.response = new Rules(config.getObject("response"));
  }

  onRequestHeaders(ctx: Context): Action {
    this.request.apply(ctx.requestHeaders);
    return Action.Continue;
  }

  onResponseHeaders(ctx: Context): Action {
    this.response.apply(ctx.responseHeaders);
    return Action.Continue;
  }
}

register(new HeaderRewrite());
