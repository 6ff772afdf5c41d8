// Copies the non-TypeScript files the compiled code reads at run time into dist/.
import { cpSync } from 'node:fs';

cpSync('oci/schema', 'dist/oci/schema', { recursive: true });
