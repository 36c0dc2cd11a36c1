// Baseline: the barest Socket.IO 4.8 relay. A Map from name to socket; no authentication, no
// validation, no storage. Same wire shape as ours, so one load generator drives both.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const sockets = new Map();
const http = createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end('{}'));
const io = new Server(http, { serveClient: false, perMessageDeflate: false });
let next = 0;
io.on('connection', (socket) => {
  socket.on('login', (p, ack) => {
    sockets.set(p.username, socket);
    ack({ ok: true });
  });
  socket.on('send', (p, ack) => {
    const id = String(++next);
    sockets.get(p.to)?.emit('message', { id, from: 'x', to: p.to, sentAt: Date.now(), envelope: p.envelope });
    ack({ ok: true, id, sentAt: Date.now(), status: 'delivered' });
  });
  socket.on('ack', (_p, ack) => ack?.({ ok: true }));
});
http.listen(Number(process.env.PORT), '127.0.0.1');
