// Types for the browser entry only (see ./tsconfig.json). The project installs no @types/react, so
// the little of React this entry touches is declared here; this file is outside the server program.

declare module 'react' {
  export function createElement<P extends object>(component: (props: P) => unknown, props: P): unknown;
}

declare module 'react-dom/client' {
  export interface Root {
    render(children: unknown): void;
  }
  export function createRoot(container: Element): Root;
}

declare module '*.css';

interface MonacoEnvironment {
  getWorker(workerId: string, label: string): Worker;
}

// eslint-disable-next-line no-var -- a global declaration must be `var`
declare var MonacoEnvironment: MonacoEnvironment | undefined;
