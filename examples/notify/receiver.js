// A webhook receiver for the demo: prints each notification once, dropping a repeat by its
// Idempotency-Key (a retry after a worker died mid-POST carries the same key).
const http = require('node:http');
const seen = new Set();
http
  .createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'];
      if (!seen.has(key)) {
        seen.add(key);
        console.log(`${key}\n${JSON.parse(body).text}\n`);
      }
      res.end('ok');
    });
  })
  .listen(Number(process.env.PORT ?? 8787), '127.0.0.1', () => console.log('listening'));
