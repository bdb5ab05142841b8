// Annotorious's ES build keeps one bundler-time check (nanostores:
// `process.env.NODE_ENV !== "production"`). Without a bundler the browser has no
// `process`; this names the production build so the vendored file stays byte-identical.
globalThis.process ??= { env: { NODE_ENV: "production" } };
