// E2B SDK against Executor: Sandbox.create() then runCode('1+1') (then kill), N times; prints the medians as JSON.
// node tests/clients/bench-e2b.mjs http://localhost:5000 <executor key or its e2b_ form> [N=20] [pause ms between samples=0]
// Also prints every sample (create_samples, total_samples), so a caller can leave out its warm-up.
const [url, key, n = '20', pause = '0'] = process.argv.slice(2)
process.env.E2B_API_URL = `${url.replace(/\/$/, '')}/e2b`
process.env.E2B_SANDBOX_URL = url.replace(/\/$/, '')
process.env.E2B_API_KEY = key.startsWith('e2b_') ? key : 'e2b_' + Buffer.from(key, 'utf8').toString('hex')
const { Sandbox } = await import('@e2b/code-interpreter')

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const round = (x) => Math.round(x * 10) / 10
const create = [], run = [], kill = [], total = []
for (let i = 0; i < Number(n); i++) {
  if (i > 0 && Number(pause) > 0) await new Promise(resolve => setTimeout(resolve, Number(pause)))
  const t0 = performance.now()
  const sandbox = await Sandbox.create()
  const t1 = performance.now()
  const execution = await sandbox.runCode('1+1')
  const t2 = performance.now()
  if (execution.text !== '2') throw new Error(`runCode('1+1') gave ${execution.text}`)
  await sandbox.kill()
  const t3 = performance.now()
  create.push(t1 - t0); run.push(t2 - t1); kill.push(t3 - t2); total.push(t2 - t0)
}
console.log(JSON.stringify({
  surface: 'e2b', n: Number(n),
  create_ms: round(median(create)), run_code_ms: round(median(run)),
  create_and_run_ms: round(median(total)), kill_ms: round(median(kill)),
  create_samples: create.map(round), total_samples: total.map(round),
}))
