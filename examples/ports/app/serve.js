// A tiny dev server the gate starts, as a project's `npm run dev` would: it listens on $PORT,
// answers one request from the gate itself, and holds the port for a few seconds.
const http = require('node:http');
const port = Number(process.env.PORT);
if (!port) {
  console.error('PORT is not set');
  process.exit(2);
}
const server = http.createServer((req, res) => res.end(`ok from ${process.env.COMPOSE_PROJECT_NAME}\n`));
server.on('error', (err) => {
  console.error(`cannot listen on ${port}: ${err.code}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  http.get(`http://127.0.0.1:${port}/`, (res) => {
    res.pipe(process.stdout);
    // Hold the port a while, as a test run against a dev server does.
    setTimeout(() => server.close(() => process.exit(0)), Number(process.env.HOLD_MS ?? 3000));
  });
});
