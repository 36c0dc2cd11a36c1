// Baseline: the barest WebSocket relay with `ws`. JSON text frames: {t:'login',u}, {t:'send',to,e,k},
// {t:'ack'}; the server forwards {t:'message',...} and answers sends with {t:'ok',k}.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const sockets = new Map();
const http = createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end('{}'));
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
let next = 0;
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.t === 'login') {
      sockets.set(m.u, ws);
      ws.send(JSON.stringify({ t: 'ok', k: m.k }));
    } else if (m.t === 'send') {
      const id = String(++next);
      sockets.get(m.to)?.send(JSON.stringify({ t: 'message', id, to: m.to, sentAt: Date.now(), envelope: m.e }));
      ws.send(JSON.stringify({ t: 'ok', k: m.k, id }));
    }
    // 'ack' frames are read and dropped: the cost of receiving them is the baseline's share.
  });
});
http.listen(Number(process.env.PORT), '127.0.0.1');
