// Types of build-stamp.mjs, for the TypeScript that imports it (test/global-setup.ts).

/** Where the stamp of the last successful build lives. */
export declare const STAMP_FILE: string;
/** SHA-256 over the path and bytes of every build input. */
export declare function buildInputsHash(): string;
/** The stamp of the last successful build, or undefined if there is none. */
export declare function readStamp(): string | undefined;
