/** Names of the built-in filters (`plugin: NAME`). */
export declare const PLUGINS: readonly string[];
export declare function isPlugin(name: string): boolean;
/** Absolute path of dist/NAME.wasm; throws for an unknown name. */
export declare function pluginPath(name: string): string;
/** Absolute path of NAME/filter.ts. */
export declare function pluginSource(name: string): string;
