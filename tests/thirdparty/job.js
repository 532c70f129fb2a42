// job.js - a Node.js workload for thirdparty.bats: BigInt hashing in setImmediate batches.
let h = 0n, arr = [];
function step(i) { let x = 0; for (let k = 0; k < 200000; k++) x = (x * 31 + k + i) % 1000003; arr.push(x); h = (h * 131n + BigInt(x)) % 1000000007n; }
let i = 0;
function tick() {
  for (let j = 0; j < 20; j++) step(i++);
  if (i % 200 == 0) console.log(i, h.toString());
  if (i < 3000) setImmediate(tick); else console.log("done", h.toString(), arr.length);
}
tick();
