// Placeholder until the MinIO harness lands (same session).
export default async function setup(): Promise<void> {}
