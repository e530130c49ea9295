// drizzle-kit reads this to generate migrations (`npx drizzle-kit generate`, offline).
// Do not point `drizzle-kit migrate` or `push` at a replica file: the app applies
// ./drizzle itself on start, through s3db, so every process sees the change.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './drizzle',
})
