/**
 * Child-process entry of `spawnTarget` (targets.ts): starts one target on a free loopback port,
 * answers counter requests over IPC, closes on request (or when the parent goes away).
 */
import { startTarget, type HostReply, type HostRequest, type Target } from './targets.ts';

const reply = (message: HostReply) => process.send?.(message);
let target: Target | null = null;
let closing = false;

async function close(code: number): Promise<never> {
  if (!closing) {
    closing = true;
    try {
      await target?.close();
    } catch (error) {
      console.error('target close failed', error);
      code = code || 1;
    }
    reply({ type: 'closed' });
  }
  process.exit(code);
}

process.on('message', (message: HostRequest) => {
  if (message.type === 'start') {
    startTarget(message.config).then(
      (started) => {
        target = started;
        reply({ type: 'ready', url: started.url });
      },
      (error: unknown) => {
        reply({ type: 'failed', error: error instanceof Error ? error.stack ?? error.message : String(error) });
        process.exit(1);
      },
    );
  } else if (message.type === 'counters') {
    void target?.counters().then((counters) => reply({ type: 'counters', id: message.id, counters }));
  } else if (message.type === 'profile') {
    const { id, action } = message;
    if (action === 'start') void target?.profile('start').then(() => reply({ type: 'profile', id, selfTime: {} }));
    else void target?.profile('stop').then((selfTime) => reply({ type: 'profile', id, selfTime }));
  } else if (message.type === 'close') {
    void close(0);
  }
});
process.on('disconnect', () => void close(1));
